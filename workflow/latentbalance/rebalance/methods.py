"""Method ids and what they mean.

``<sampler>-<autoencoder>[+penalty]`` oversamples in the latent space of that autoencoder (e.g.
``smote-ae``, ``adasyn-vae+penalty``); ``<sampler>-pixel`` oversamples flattened pixels; ``ros``
duplicates real images; ``none`` trains on the imbalanced set as is; ``weighted`` trains on it with
a class-weighted loss; ``la-loss``, ``balanced-softmax`` and ``ldam-drw`` train on it with a
long-tail loss (``losses``). ``<backbone>@<head>`` re-trains the last layer of the backbone
method's finished classifier on its frozen features (``heads``), e.g. ``none@crt``,
``smote-ae+penalty@eos``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import product

from ..settings.schema import ConfigError, allowed

# Kept free of torch: the Snakefile imports this module every time it is parsed (every dry run,
# and twice per cluster job).
AUTOENCODERS = allowed("methods.grid.autoencoders")
SAMPLERS = allowed("methods.grid.samplers")
PIXEL_SAMPLERS = tuple(s for s in SAMPLERS if s != "ros")  # ros in pixel space is `ros` itself
BASELINES = ("none", "weighted", "ros")
# kept here rather than imported from .losses (torch)
LOSS_METHODS = ("la-loss", "balanced-softmax", "ldam-drw")
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


# The settings' defaults: a label names a setting only where it differs (config/README.md).
PENALTY_DEFAULTS = {"penalty_kind": "paper", "penalty_weight": 1.0}
SAMPLER_DEFAULTS = {"target": "majority", "synthetic_share": 1.0, "k_neighbors": 5}
LOSS_DEFAULTS = {
    "la_tau": 1.0,
    "ldam_max_margin": 0.5,
    "ldam_scale": 30.0,
    "drw_beta": 0.9999,
    "drw_from": 0.8,
}
HEAD_DEFAULTS = {"eos_neighbors": 10, "smote_neighbors": 5}
# how a label writes each loss and head setting; a method shows only the ones it uses
LOSS_NAMES = {
    "la-loss": {"la_tau": "τ {:g}"},
    "ldam-drw": {
        "ldam_max_margin": "margin {:g}",
        "ldam_scale": "s {:g}",
        "drw_beta": "β {:g}",
        "drw_from": "re-weighted from {:.0%}",
    },
}
HEAD_NAMES = {"eos": {"eos_neighbors": "k = {}"}, "smote-feat": {"smote_neighbors": "k = {}"}}


def method_label(
    method_id: str,
    sampler: dict | None = None,
    autoencoder: dict | None = None,
    losses: dict | None = None,
    heads: dict | None = None,
    epochs_by_method: dict | None = None,
):
    """The method id with every setting that changes what it means and is not the default, e.g.
    ``smote-ae (25 % synthetic)``, ``ros (to 1000)``, ``smote-ae+penalty (official, λ 0.1)``,
    ``la-loss (τ 1.5)``, ``none@eos (eos k = 5)``, ``none@crt (40 epochs)``: a ``smote-ae`` whose
    balanced set is 75 % repeats is another method than DeepSMOTE's. ``epochs_by_method`` is
    ``classifier.epochs_by_method``: a model whose classifier (a head's: its backbone's) trained
    epochs of its own says so."""
    method = parse_method(method_id)
    sampler = SAMPLER_DEFAULTS | (sampler or {})
    autoencoder = PENALTY_DEFAULTS | (autoencoder or {})
    losses = LOSS_DEFAULTS | (losses or {})
    heads = HEAD_DEFAULTS | (heads or {})
    parts = []
    if method.penalty and any(autoencoder[k] != v for k, v in PENALTY_DEFAULTS.items()):
        parts.append(f"{autoencoder['penalty_kind']}, λ {autoencoder['penalty_weight']:g}")
    if method.generates and method.sampler != "ros":
        if sampler["synthetic_share"] < 1:
            parts.append(f"{100 * sampler['synthetic_share']:g} % synthetic")
        if sampler["k_neighbors"] != SAMPLER_DEFAULTS["k_neighbors"]:
            parts.append(f"k = {sampler['k_neighbors']}")
    if method.generates and sampler["target"] != "majority":
        parts.append(f"to {sampler['target']}")
    for key, name in LOSS_NAMES.get(method.loss, {}).items():
        if losses[key] != LOSS_DEFAULTS[key]:
            parts.append(name.format(losses[key]))
    for key, name in HEAD_NAMES.get(method.head, {}).items():
        if heads[key] != HEAD_DEFAULTS[key]:
            parts.append(f"{method.head} {name.format(heads[key])}")
    if method.backbone in (epochs_by_method or {}):
        parts.append(f"{epochs_by_method[method.backbone]} epochs")
    return f"{method_id} ({'; '.join(parts)})" if parts else method_id
