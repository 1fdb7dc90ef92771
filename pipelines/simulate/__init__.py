"""The fleet simulator: a realistic GPU platform with injected incidents and the truth of what was injected."""
