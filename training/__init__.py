"""Training: labels, honest splits, LightGBM + baseline, calibration, evaluation, MLflow."""
