"""What a fit resolves and computes apart from torch: its plan, target blocks and ridge path."""
