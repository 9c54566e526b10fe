"""Prompts: schema rendering, schema linking and the one prompt builder."""

from sqltune.prompt.builder import PromptBuilder, PromptConfig
from sqltune.prompt.link import Linked, link
from sqltune.prompt.render import render_table_text

__all__ = ["Linked", "PromptBuilder", "PromptConfig", "link", "render_table_text"]
