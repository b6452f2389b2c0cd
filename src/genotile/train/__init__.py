"""Training: the reference's losses (``losses``), and next the train-mode model, data steps and trainer.

Kept reusable for distillation: every loss takes targets that are either measured tracks or another
model's predictions.
"""
