"""Background work shared by every node through the metadata database."""
