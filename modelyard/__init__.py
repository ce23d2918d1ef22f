"""Modelyard: a self-hostable platform for AI image models."""

__version__ = "0.1.0"
