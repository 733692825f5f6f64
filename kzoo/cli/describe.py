"""`kzoo describe MODEL`: a family's hyperparameters, search ranges, training
recipe, and whether its saved models load without kzoo."""

import dataclasses

from kzoo.cli.args import add_common


def search_ranges(spec):
    """`{name: text}`: the range `kzoo tune` searches for each hyperparameter of
    the family's space (KerasTuner's `hp.Int/Float/Choice/Boolean`)."""
    import keras_tuner as kt

    hp = kt.HyperParameters()
    spec.space(hp)
    ranges = {}
    for h in hp.space:
        config = h.get_config()
        if "values" in config:
            ranges[h.name] = "one of " + ", ".join(map(str, config["values"]))
        elif "min_value" in config:
            step = config.get("step")
            log = config.get("sampling") == "log"
            ranges[h.name] = (f"{config['min_value']:g}..{config['max_value']:g}"
                              + (" (log)" if log else f" step {step:g}" if step else ""))
        else:  # Boolean
            ranges[h.name] = "true or false"
    return ranges


def brief_hparams(spec, limit=6):
    """`units=64 depth=1 ...`: the first hyperparameters and defaults, for `kzoo list`."""
    items = [f"{k}={v}" for k, v in spec.defaults.items()]
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return " ".join(items[:limit]) + more


# The input preparation every sequence family takes (zoo/series.py), and the plain
# command's rule for it (kzoo/training/series_rule.py).
SERIES_RULES = {
    "series_norm": "data rule: true when per-series std spreads > 100x (95th/5th pct)",
    "resample_to": "data rule: padded data, fcn/resnet1d/inception_time: longest (<= 512)",
}


def describe_model(name):
    """The text `kzoo describe NAME` prints."""
    from kzoo import zoo

    spec = zoo.get_spec(name)
    lines = [f"{spec.name}: {spec.description} ({spec.kind} input)"]
    if spec.reference:
        lines.append(f"reference: {spec.reference}")
    ranges = search_ranges(spec)
    lines.append("hyperparameters (default; range kzoo tune searches):")
    for key, value in spec.defaults.items():
        how = ranges.get(key, SERIES_RULES.get(key, "fixed unless --hp sets it"))
        lines.append(f"  {key:20s} {value!r:12s} {how}")
    extra = sorted(set(ranges) - set(spec.defaults))
    if extra:
        lines.append("also searched by kzoo tune: "
                     + ", ".join(f"{k} ({ranges[k]})" for k in extra))
    recipe = spec.recipe
    fields = {f.name: getattr(recipe, f.name) for f in dataclasses.fields(recipe)
              if f.name != "sources"}
    lines.append("training recipe (zoo/_defaults.py; kzoo train's auto settings):")
    lines.append("  " + ", ".join(f"{k}={v}" for k, v in fields.items()))
    if recipe.tiny_lr is not None:  # zoo/_resolve.py
        lines.append(f"learning rate: {recipe.tiny_lr:g} below {recipe.tiny_threshold} training "
                     f"examples, where the epoch budget is all a run gets "
                     f"({recipe.source('tiny_lr')}); {recipe.lr:g} otherwise.")
    if recipe.ensemble > 1:  # kzoo/training/ensemble.py
        lines.append(f"ensemble: {recipe.ensemble} members by default ({recipe.source('ensemble')})"
                     f" while training examples x series length x epochs <= "
                     f"{recipe.ensemble_max_work:.2g}; --ensemble 1 trains one network.")
    if recipe.ridge_max_examples:  # zoo/minirocket_head.py
        lines.append(f"head: ridge solved in closed form for <= {recipe.ridge_max_examples} "
                     "training examples (then --epochs auto is 1), logistic regression "
                     f"trained above that ({recipe.source('ridge_max_examples')}); "
                     "--hp head_fit=ridge|logistic chooses.")
    if spec.kind == "sequence":
        lines.append("input preparation: series_norm z-normalises each series over its valid "
                     "steps, resample_to interpolates padded series to one length; both run "
                     "inside the model (so at predict time too), and config.json's resolved "
                     "records the choice and why.")
    if spec.needs_kzoo is None:
        lines.append("saved model: loads with plain keras.saving.load_model (Keras layers only).")
    elif spec.portable():
        lines.append("saved model: with the defaults it uses Keras layers only and loads without "
                     "kzoo; some settings (e.g. masking) add kzoo layers, then `import kzoo.zoo` "
                     "before keras.saving.load_model.")
    else:
        lines.append("saved model: uses kzoo layers; `import kzoo.zoo` before "
                     "keras.saving.load_model.")
    return "\n".join(lines)


def cmd_describe(args):
    print(describe_model(args.model))
    return 0


def add_parser(sub):
    p = sub.add_parser("describe", help="a model's hyperparameters, ranges and training recipe")
    p.add_argument("model", help="a registered model (kzoo list)")
    add_common(p)
    p.set_defaults(func=cmd_describe)
    return p
