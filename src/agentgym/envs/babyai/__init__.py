"""BabyAI: minigrid's BabyAI levels behind our text layer and the original's macro actions."""
