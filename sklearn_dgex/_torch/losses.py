"""The loss of a fit with missing targets: the mean over the observed ones."""

import torch


class MaskedLoss(torch.nn.Module):
    """Mean of an element-wise loss over the observed (non-NaN) targets.

    A missing target contributes neither to the loss nor to its gradient: it is
    replaced by the detached prediction, whose loss and gradient are zero for
    the MAE, MSE and Huber losses.

    Parameters
    ----------
    base : type, default=torch.nn.MSELoss
        A torch loss class taking ``reduction="none"``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_dgex._torch.losses import MaskedLoss
    >>> loss = MaskedLoss(torch.nn.L1Loss)
    >>> float(loss(torch.zeros(2, 2), torch.tensor([[1.0, float("nan")], [3.0, 2.0]])))
    2.0
    """

    def __init__(self, base=torch.nn.MSELoss):
        super().__init__()
        self.elementwise = base(reduction="none")

    def forward(self, y_pred, y_true):
        observed = ~torch.isnan(y_true)
        filled = torch.where(observed, y_true, y_pred.detach())
        losses = self.elementwise(y_pred, filled)
        # A batch without any observed target has loss 0, not 0/0.
        return losses.sum() / observed.sum().clamp(min=1)
