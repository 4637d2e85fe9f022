"""What goes wrong fetching a dataset, said once for every source that downloads: the address
tried, why it failed, and how to do without the download."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path


@contextmanager
def download_failures(title: str, addresses: list[str], offline: str):
    """A download that does not arrive (no internet, a moved address, a corrupt transfer) ends in
    one message: the dataset, the address(es) tried, why, and how to do without the download."""
    try:
        yield
    except (OSError, RuntimeError) as error:
        # urllib's reason; torchvision's mirror loop lists each mirror's, the last on its own line
        reason = str(getattr(error, "reason", None) or error).strip().splitlines()[-1]
        raise ConnectionError(
            f"downloading {title} from {' or '.join(addresses)} failed ({reason}). To run "
            f"offline, {offline}."
        ) from error


def integrity_failed(title: str, folder: Path, error: Exception) -> RuntimeError:
    """The error for local files that fail torchvision's md5 check, with the two ways on."""
    return RuntimeError(
        f"{title} files under {folder} do not match torchvision's md5 checksums ({error}). "
        "Delete them and rerun with 'download: true' to fetch the originals, or set "
        "'verify: false' for this dataset to use a copy you trust without the md5 check."
    )
