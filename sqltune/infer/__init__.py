"""Inference: prompts → SQL candidates → execution-guided choice → an answer."""

from sqltune.infer.decode import DecodeConfig, extract_sql, generate_candidates
from sqltune.infer.fewshot import PairRetriever
from sqltune.infer.text2sql import Answer, Text2SQL

__all__ = ["Answer", "DecodeConfig", "PairRetriever", "Text2SQL", "extract_sql", "generate_candidates"]
