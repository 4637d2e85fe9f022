"""Running out of memory while training: one message naming the job, the network and what to
lower, instead of torch's traceback."""

from __future__ import annotations

from contextlib import contextmanager

from ..settings.recipes import AutoencoderRecipe, ClassifierRecipe
from ..snakemake_job import gpu_out_of_memory_marker


class OutOfMemory(RuntimeError):
    """A training job ran out of its device's memory; the message says what to lower."""


@contextmanager
def explained_out_of_memory(job: str, device, advice: str, checkpoint=None):
    """Turn running out of memory while training into one message naming the job, what the
    network was and what to lower (``advice``), instead of torch's traceback. Running out of GPU
    memory leaves a marker beside ``checkpoint`` (``host_memory_mb`` reads it), removed when the
    job starts again."""
    marker = gpu_out_of_memory_marker(checkpoint) if checkpoint else None
    if marker:
        marker.unlink(missing_ok=True)
    try:
        yield
    except RuntimeError as error:
        if not is_out_of_memory(error):
            raise
        where = "GPU" if device.type == "cuda" else "host"
        if marker and where == "GPU":
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise OutOfMemory(
            f"{job} ran out of {where} memory: {advice}, or run it with more {where} memory "
            f"(torch: {detail})"
        ) from None


def is_out_of_memory(error: RuntimeError) -> bool:
    """Whether ``error`` is torch running out of device memory. By its message: the class
    torch.OutOfMemoryError (a RuntimeError) is new in torch 2.5, and the CPU allocator raises a
    plain RuntimeError."""
    return any(words in str(error) for words in ("out of memory", "can't allocate memory"))


def classifier_advice(arch: str, recipe: ClassifierRecipe) -> str:
    """What to lower when a classifier's training runs out of memory."""
    return (
        f"{arch} with classifier.batch_size {recipe.batch_size} and stem '{recipe.stem}' needs "
        "less: lower classifier.batch_size, use classifier.stem 'compact' or 'imagenet' (smaller "
        "feature maps) or a smaller classifier"
    )


def autoencoder_advice(recipe: AutoencoderRecipe) -> str:
    """What to lower when an autoencoder's training runs out of memory."""
    return (
        f"with autoencoder.batch_size {recipe.batch_size} and width {recipe.width}, lower "
        "autoencoder.batch_size or autoencoder.width"
    )
