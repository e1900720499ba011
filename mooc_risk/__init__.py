"""mooc-risk: completion and dropout risk for MOOC learners."""
