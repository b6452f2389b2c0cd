"""Variant effect prediction: VCF normalisation, REF/ALT sequences with indel alignment, and (next) the scorers."""
