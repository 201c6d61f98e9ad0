"""Reporting: experiments behind the notebooks, tables and plots, the papermill/jupyter-book runner."""
