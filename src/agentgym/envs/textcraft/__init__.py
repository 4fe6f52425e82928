"""TextCraft: craft a Minecraft 1.16 item from base materials with text commands."""
