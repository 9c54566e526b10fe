"""Prompts: schema rendering, schema linking and the one prompt builder."""

from sqltune.prompt.builder import DEFAULT_BUDGET_TOKENS, PromptBuilder, PromptConfig
from sqltune.prompt.link import Linked, link
from sqltune.prompt.render import render_table_text

__all__ = ["DEFAULT_BUDGET_TOKENS", "Linked", "PromptBuilder", "PromptConfig", "link", "render_table_text"]
