"""Method ids and what they mean.

``<sampler>-<autoencoder>[+penalty]`` oversamples in the latent space of that autoencoder (e.g.
``smote-ae``, ``adasyn-vae+penalty``); ``<sampler>-pixel`` oversamples flattened pixels; ``ros``
duplicates real images; ``none`` trains on the imbalanced set as is; ``weighted`` trains on it with
a class-weighted loss; ``la-loss`` and ``ldam-drw`` train on it with a long-tail loss, and
``mixup-drw`` and ``remix-drw`` with deferred re-weighting on mixed batches (``losses``).
``<backbone>@<head>`` re-trains the last layer of the backbone method's finished classifier on
its frozen features (``heads``), e.g. ``none@crt``, ``smote-ae+penalty@eos``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import product
from typing import NamedTuple

from ..settings.schema import ConfigError, allowed, with_defaults

# Kept free of torch: the Snakefile imports this module every time it is parsed (every dry run,
# and twice per cluster job).
AUTOENCODERS = allowed("methods.grid.autoencoders")
SAMPLERS = allowed("methods.grid.samplers")
PIXEL_SAMPLERS = tuple(s for s in SAMPLERS if s != "ros")  # ros in pixel space is `ros` itself
BASELINES = ("none", "weighted", "ros")
# kept here rather than imported from .losses (torch)
LOSS_METHODS = ("la-loss", "ldam-drw", "mixup-drw", "remix-drw")
# the losses that switch class-balanced weights on late (deferred re-weighting)
DRW_METHODS = ("ldam-drw", "mixup-drw", "remix-drw")
# the batch mixing a method trains with, in place of classifier.augment.mix
MIXING = {"mixup-drw": "mixup", "remix-drw": "remix"}
HEADS = ("crt", "smote-feat", "eos")


@dataclass(frozen=True)
class Method:
    id: str
    sampler: str | None = None  # what generates samples; None when nothing is generated
    autoencoder: str | None = None  # latent space to sample in; None for pixel space
    penalty: bool = False  # autoencoder trained with DeepSMOTE's permutation penalty
    loss: str = "cross-entropy"  # a long-tail loss id, or cross-entropy
    head: str | None = None  # last layer re-trained on frozen features by this head

    @property
    def backbone(self) -> str:
        """The id of the method whose classifier a head starts from (the id itself without a
        head)."""
        return self.id.partition("@")[0]

    @property
    def generates(self) -> bool:
        return self.sampler is not None

    @property
    def class_weighted(self) -> bool:
        return self.id == "weighted"

    @property
    def parts(self) -> set[str]:
        """What this method is made of, as ``READERS`` names them: its autoencoder, ``penalty``,
        its loss, ``drw`` and its head."""
        drw = "drw" if self.loss in DRW_METHODS else None
        named = (self.autoencoder, "penalty" if self.penalty else None, self.loss, drw, self.head)
        return {part for part in named if part}

    @property
    def autoencoder_dir(self) -> str | None:
        """Folder name of the autoencoder this method uses (shared by every sampler)."""
        if not self.autoencoder:
            return None
        return f"{self.autoencoder}-{'penalty' if self.penalty else 'nopenalty'}"


def valid_method_ids() -> list[str]:
    ids = list(BASELINES) + list(LOSS_METHODS) + [f"{s}-pixel" for s in PIXEL_SAMPLERS]
    for sampler, ae, penalty in product(SAMPLERS, AUTOENCODERS, ("", "+penalty")):
        ids.append(f"{sampler}-{ae}{penalty}")
    return ids


def parse_method(method_id: str) -> Method:
    backbone, at, head = method_id.partition("@")
    if at:
        if head not in HEADS or "@" in head:
            raise ConfigError(
                "methods",
                f"unknown head {head!r} in method {method_id!r} in 'methods'; a head id is "
                f"<method>@<head> with a head among {', '.join(HEADS)}, e.g. none@crt",
            )
        return replace(parse_backbone(backbone), id=method_id, head=head)
    return parse_backbone(method_id)


def parse_backbone(method_id: str) -> Method:
    """A method without a head."""
    if method_id == "balanced-softmax":
        raise ConfigError(
            "methods",
            "'balanced-softmax' is la-loss at tau = 1 (losses.la_tau, the default): the same loss "
            "on the same logits, so it is not trained twice; list la-loss in 'methods'",
        )
    if method_id in LOSS_METHODS:
        return Method(method_id, loss=method_id)
    if method_id in ("none", "weighted"):
        return Method(method_id)
    if method_id == "ros":
        return Method(method_id, sampler="ros")
    base, plus, suffix = method_id.partition("+")
    sampler, _, space = base.partition("-")
    penalty = plus == "+" and suffix == "penalty"
    well_formed = not plus or penalty
    if well_formed and not penalty and sampler in PIXEL_SAMPLERS and space == "pixel":
        return Method(method_id, sampler=sampler)
    if well_formed and sampler in SAMPLERS and space in AUTOENCODERS:
        return Method(method_id, sampler=sampler, autoencoder=space, penalty=penalty)
    raise ConfigError(
        "methods",
        f"unknown method {method_id!r} in 'methods'; valid ids: {', '.join(valid_method_ids())}, "
        f"each also with a head: <id>@{'|'.join(HEADS)}",
    )


def expand_methods(spec) -> list[str]:
    """The ``methods`` config as a list of ids: a list as given, or a grid
    ``{grid: {samplers, autoencoders, penalty: [false, true]}, baselines: [...]}``."""
    if isinstance(spec, list):
        ids = list(spec)
    else:
        grid = spec.get("grid", {})
        ids = list(spec.get("baselines", []))
        for sampler, ae, penalty in product(
            grid.get("samplers", []), grid.get("autoencoders", []), grid.get("penalty", [False])
        ):
            ids.append(f"{sampler}-{ae}{'+penalty' if penalty else ''}")
    for method_id in ids:
        parse_method(method_id)
    twice = sorted({method_id for method_id in ids if ids.count(method_id) > 1})
    if twice:
        raise ConfigError(
            "methods",
            f"'methods' names {', '.join(twice)} twice (the grid makes {', '.join(ids)}); "
            "list each method once",
        )
    return ids


class Reader(NamedTuple):
    """Who alone reads a setting: a ``part`` of a method (``Method.parts``), and how a model's
    label writes the setting's value where it is not the default (None: the label does not)."""

    part: str
    label: str | None = None


# The settings of a config block that one part of a method alone reads: an autoencoder, the
# penalty, a loss, a head (every other key of the block is read by all of its rule's jobs). A job
# is given only the settings it reads (the rules' params), so that the VAE's beta reruns no plain
# autoencoder, la-loss's tau no other method and EOS's neighbours no other head.
READERS = {
    "autoencoder": {
        "kl_weight": Reader("vae"),
        "mmd_weight": Reader("wae"),
        # labelled together, in method_label
        "penalty_kind": Reader("penalty"),
        "penalty_weight": Reader("penalty"),
    },
    "losses": {
        "la_tau": Reader("la-loss", "τ {:g}"),
        "ldam_max_margin": Reader("ldam-drw", "margin {:g}"),
        "ldam_scale": Reader("ldam-drw", "s {:g}"),
        "drw_beta": Reader("drw", "β {:g}"),
        "drw_from": Reader("drw", "re-weighted from {:.0%}"),
        "remix_kappa": Reader("remix-drw", "κ {:g}"),
        "remix_tau": Reader("remix-drw", "Remix τ {:g}"),
    },
    "heads": {
        "crt_lr": Reader("crt", "crt lr {:g}"),
        "eos_neighbors": Reader("eos", "eos k = {}"),
        "smote_neighbors": Reader("smote-feat", "smote-feat k = {}"),
    },
}


def settings_read_by(parts, block_name: str, block: dict) -> dict:
    """The keys of config block ``block_name`` (its values: ``block``) that a job of these
    ``parts`` reads (``Method.parts``, or e.g. ``{"vae", "penalty"}`` for an autoencoder), in the
    block's order."""
    readers = READERS.get(block_name, {})
    return {
        key: value
        for key, value in block.items()
        if key not in readers or readers[key].part in parts
    }


def _named_settings(method: Method, block_name: str, values: dict) -> list[str]:
    """What a label says of the block's settings this method reads and that are not the default,
    in the table's order."""
    defaults = with_defaults(block_name, {})
    values = defaults | values
    return [
        reader.label.format(values[key])
        for key, reader in READERS[block_name].items()
        if reader.label and reader.part in method.parts and values[key] != defaults[key]
    ]


def _recipe_notes(recipe: dict, where: str = "") -> list[str]:
    """A classifier recipe of a method's own, as a model's name shows it, key by key."""
    words = {"epochs": "{} epochs", "images_seen": "{} images seen"}
    notes = []
    for key, value in sorted(recipe.items()):
        if isinstance(value, dict):
            notes += _recipe_notes(value, f"{where}{key}.")
        else:
            notes.append(words.get(key, f"{where}{key} {{}}").format(value))
    return notes


def method_label(
    method_id: str,
    sampler: dict | None = None,
    autoencoder: dict | None = None,
    losses: dict | None = None,
    heads: dict | None = None,
    by_method: dict | None = None,
):
    """The method id with every setting that changes what it means and is not the default, e.g.
    ``smote-ae (25 % synthetic)``, ``ros (to 1000)``, ``smote-ae+penalty (official, λ 0.1)``,
    ``la-loss (τ 1.5)``, ``none@eos (eos k = 5)``, ``none@crt (40 epochs)``: a ``smote-ae`` whose
    balanced set is 75 % repeats is another method than DeepSMOTE's. ``by_method`` is
    ``classifier.by_method``: a model whose classifier (a head's: its backbone's) trained a recipe
    of its own says so (``40 epochs``, ``20000 images seen``, ``batch_size 64``)."""
    method = parse_method(method_id)
    sampler = with_defaults("sampler", sampler or {})
    autoencoder = with_defaults("autoencoder", autoencoder or {})
    default = with_defaults("sampler", {}) | with_defaults("autoencoder", {})
    notes = []
    penalty = ("penalty_kind", "penalty_weight")
    if method.penalty and any(autoencoder[key] != default[key] for key in penalty):
        notes.append(f"{autoencoder['penalty_kind']}, λ {autoencoder['penalty_weight']:g}")
    if method.generates and method.sampler != "ros":
        if sampler["synthetic_share"] < 1:
            notes.append(f"{100 * sampler['synthetic_share']:g} % synthetic")
        if sampler["k_neighbors"] != default["k_neighbors"]:
            notes.append(f"k = {sampler['k_neighbors']}")
    if method.generates and sampler["target"] != default["target"]:
        notes.append(f"to {sampler['target']}")
    notes += _named_settings(method, "losses", losses or {})
    notes += _named_settings(method, "heads", heads or {})
    notes += _recipe_notes((by_method or {}).get(method.backbone, {}))
    return f"{method_id} ({'; '.join(notes)})" if notes else method_id
