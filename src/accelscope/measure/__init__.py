"""Measurement and validation: measured-data schema, predictions per row, error tables."""

from .dataset import DATASETS, MeasuredRow, load_rows, write_rows
from .validate import CategoryError, RowResult, markdown_table, summarize, validate

__all__ = ["DATASETS", "CategoryError", "MeasuredRow", "RowResult", "load_rows", "markdown_table", "summarize",
           "validate", "write_rows"]
