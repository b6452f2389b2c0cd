"""Training (fine-tuning; distillation next): losses, training data (tracks sheet, targets, splits), the trainer.

Kept reusable for distillation: every loss takes targets that are either measured tracks or another
model's predictions, and the trainer takes its loss function and batches as arguments.
"""
