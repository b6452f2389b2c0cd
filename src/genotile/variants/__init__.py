"""Variant input: reading, splitting and normalising cohort VCF/BCF files."""
