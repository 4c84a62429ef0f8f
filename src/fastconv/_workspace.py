"""The workspace limit of the im2col (and Winograd) kernels."""
from __future__ import annotations

from ._params import _is_int

DEFAULT_WORKSPACE_LIMIT = 64 * 2**20
_limit = DEFAULT_WORKSPACE_LIMIT


def set_workspace_limit(nbytes):
    """Cap the scratch memory one call of a workspace-using kernel may allocate.

    The im2col kernels hold their packed weights (whole, whatever the cap) and,
    per thread, a chunk of the column matrix; the chunks are sized to fit in what
    the weights leave of the cap (at least one register-tile panel of columns per
    thread), so large batches and images are worked through in pieces.

    Parameters
    ----------
    nbytes : int
        At least 1 MiB (1048576).  The default is 64 MiB.
    """
    global _limit
    if not _is_int(nbytes):
        raise TypeError(f"nbytes={nbytes!r}: expected an int of at least 1048576 (1 MiB)")
    if int(nbytes) < 2**20:
        raise ValueError(f"nbytes={nbytes}: must be at least 1048576 (1 MiB)")
    _limit = int(nbytes)


def get_workspace_limit():
    """The scratch-memory cap of one kernel call, in bytes.

    Returns
    -------
    int
    """
    return _limit
