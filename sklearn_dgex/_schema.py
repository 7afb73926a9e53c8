"""The schema of a saved model's configuration (``config.json``, see :mod:`.persistence`).

:func:`check_config` accepts only the keys the format knows, each with its
JSON type, and nesting no deeper than :data:`MAX_DEPTH`; anything else raises
:class:`SchemaError` (a ``ValueError``) that says where and what was
expected. The tables below are the whole schema: a new key of the format is
one more row (optional unless listed as required).

Parameters are checked by the estimator itself (as ``fit`` checks them), and
the meaning of the fitted attributes (lengths, finiteness, networks that
match) by :mod:`.persistence` once they are decoded.
"""

#: Deepest nesting of JSON containers accepted (the format itself needs about 8).
MAX_DEPTH = 32


class SchemaError(ValueError):
    """The configuration does not follow the schema."""


# --------------------------------------------------------------------------
# Checks: each is ``check(value, where)`` and raises SchemaError
# --------------------------------------------------------------------------
def _fail(where, expected, value):
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise SchemaError(f"{where} must be {expected}, got {shown}")


def _of_type(expected, *types, allow_bool=False):
    def check(value, where):
        if (isinstance(value, bool) and not allow_bool) or not isinstance(value, types):
            _fail(where, expected, value)

    return check


STR = _of_type("a string", str)
INT = _of_type("an integer", int)
NUMBER = _of_type("a number", int, float)
BOOL = _of_type("true or false", bool, allow_bool=True)


def ANY(value, where):
    """Any JSON value (its depth is limited for the whole file)."""


def optional(check):
    def check_optional(value, where):
        if value is not None:
            check(value, where)

    return check_optional


def one_of(*options):
    def check(value, where):
        if not isinstance(value, str) or value not in options:
            _fail(where, f"one of {list(options)}", value)

    return check


def list_of(check):
    def check_list(value, where):
        if not isinstance(value, list):
            _fail(where, "a list", value)
        for index, item in enumerate(value):
            check(item, f"{where}[{index}]")

    return check_list


def dict_of(check):
    """A JSON object with any keys (strings, by JSON) and values that pass ``check``."""

    def check_dict(value, where):
        if not isinstance(value, dict):
            _fail(where, "an object", value)
        for key, item in value.items():
            check(item, f"{where}[{key!r}]")

    return check_dict


def record(fields, required=None):
    """A JSON object with only the keys of ``fields`` (all required unless ``required``)."""
    required = set(fields) if required is None else set(required)

    def check_record(value, where):
        if not isinstance(value, dict):
            _fail(where, "an object", value)
        unknown = sorted(set(value) - set(fields))
        if unknown:
            raise SchemaError(f"{where} has unknown key(s) {unknown[:5]}")
        missing = sorted(required - set(value))
        if missing:
            raise SchemaError(f"{where} lacks the key(s) {missing}")
        for key, item in value.items():
            fields[key](item, f"{where}[{key!r}]")

    return check_record


def tagged(forms):
    """A JSON object in one of several ``forms``, chosen by which of their tag keys it has."""

    def check_tagged(value, where):
        if not isinstance(value, dict):
            _fail(where, "an object", value)
        tags = [tag for tag in forms if tag in value]
        if len(tags) != 1:
            _fail(where, f"an object with one of the keys {list(forms)}", value)
        forms[tags[0]](value, where)

    return check_tagged


SCALAR = _of_type("a number, boolean or string", int, float, str, allow_bool=True)


# --------------------------------------------------------------------------
# Encoded values of fitted attributes (the tags of persistence's encoder)
# --------------------------------------------------------------------------
ARRAY = record({"__array__": STR})
STRINGS = record({"__strings__": list_of(STR), "dtype": one_of("object", "str")})
NET = record({"__net__": INT})
HISTORY = list_of(record({"__dict__": dict_of(optional(NUMBER))}))
#: Tag of the fit's resolved settings (the "auto" values, the linear path...).
SETTINGS_RECORD = "fit_settings.v1"
#: Records (dataclasses) a file may hold, by the versioned tag that names them.
RECORDS = (SETTINGS_RECORD,)
#: Format version 1 named them by Python import path instead; its files still load.
V1_DATACLASS_TAGS = {"sklearn_dgex._small_data.Settings": SETTINGS_RECORD}
RECORD_FIELDS = record({"__dict__": dict_of(optional(SCALAR))})
RECORD = tagged(
    {
        "__record__": record({"__record__": one_of(*RECORDS), "fields": RECORD_FIELDS}),
        "__dataclass__": record(
            {"__dataclass__": one_of(*V1_DATACLASS_TAGS), "fields": RECORD_FIELDS}
        ),
    }
)
COUNT = INT

#: Every fitted attribute a file may hold, with its encoded type.
ATTRIBUTES = {
    "n_features_in_": INT,
    "feature_names_in_": STRINGS,
    "target_names_in_": STRINGS,
    "n_outputs_": INT,
    "_target_is_1d": BOOL,
    "_settings": RECORD,
    "input_mean_": ARRAY,
    "input_scale_": ARRAY,
    "target_mean_": ARRAY,
    "target_scale_": ARRAY,
    "ensemble_": list_of(list_of(NET)),
    "nets_": list_of(NET),
    "net_": NET,
    "linear_shortcut_": BOOL,
    "linear_path_": optional(one_of("shortcut", "fallback")),
    "linear_inputs_": optional(one_of("raw", "standardized")),
    "shortcut_alpha_": optional(NUMBER),
    "early_stopping_": BOOL,
    "max_epochs_": INT,
    "batch_size_": INT,
    "n_ensemble_": INT,
    "n_threads_": optional(INT),
    "device_": STR,
    "histories_": list_of(HISTORY),
    "history_": HISTORY,
    "n_iter_": COUNT,
    "best_epoch_": optional(COUNT),
    "n_parameters_": COUNT,
    "n_neurons_": COUNT,
    "width_": INT,
    "fit_time_": NUMBER,
    "n_samples_fit_": INT,
}
#: Attributes without which a model cannot predict.
REQUIRED_ATTRIBUTES = (
    "n_features_in_",
    "n_outputs_",
    "_target_is_1d",
    "input_mean_",
    "input_scale_",
    "target_mean_",
    "target_scale_",
    "nets_",
)

WRAPPER = record({"class": STR, "n_in": INT, "n_out": INT, "trainable": BOOL})
NET_CONFIG = record(
    {
        "module": STR,
        "module_kwargs": record({"__dict__": dict_of(ANY)}),
        "wrappers": list_of(WRAPPER),
        "shuffle_seed": INT,
        "history": list_of(dict_of(ANY)),
        "tensors": list_of(STR),
    }
)
TENSOR_SPEC = record({"dtype": STR, "shape": list_of(INT)})

#: The configuration's keys.
CONFIG = record(
    {
        "format": STR,
        "format_version": INT,
        "written_by": dict_of(STR),
        "estimator": STR,
        "params": dict_of(ANY),
        "attributes": record(ATTRIBUTES, required=REQUIRED_ATTRIBUTES),
        "nets": list_of(NET_CONFIG),
        "tensors": dict_of(TENSOR_SPEC),
        "tensors_sha256": STR,
        # Ids of the landmarks and targets, also at the top level for readers of the JSON.
        "feature_names_in_": list_of(STR),
        "target_names_in_": list_of(STR),
    },
    required=(
        "format",
        "format_version",
        "estimator",
        "params",
        "attributes",
        "nets",
        "tensors",
        "tensors_sha256",
    ),
)


def check_depth(value, limit=MAX_DEPTH):
    """Refuse JSON nested deeper than ``limit`` (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise SchemaError(f"the configuration nests deeper than {limit} levels")
        stack.extend((child, depth + 1) for child in children)


def check_config(config):
    """Check a parsed ``config.json`` against the schema; raise :class:`SchemaError`."""
    check_depth(config)
    CONFIG(config, "config")
