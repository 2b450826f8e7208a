"""The consumer loop that turns StepRequested into results, and the health endpoints."""
