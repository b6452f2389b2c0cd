"""Fine-tuning: training data (tracks sheet, targets, splits) and the steps of the training rules."""
