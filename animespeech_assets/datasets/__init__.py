"""Dataset stage: conversations and dialogue samples, clips, and one writer per dataset format."""
