"""optical: OT distillation for zero-shot cross-lingual retrieval (OPTICAL, Huang et al., WSDM 2023)."""

__version__ = "0.1.0"
