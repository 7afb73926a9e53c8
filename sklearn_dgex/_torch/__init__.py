"""The torch side of a fit: device, the skorch net, its callbacks, losses and checkpoints."""
