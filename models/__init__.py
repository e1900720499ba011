"""The model contract between training and serving."""
