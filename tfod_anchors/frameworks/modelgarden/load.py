"""Where a Model Garden spec comes from: a resolved ``params.yaml``, or a registered
experiment with its config files and override, as the command line and the API name
them. :class:`ExperimentRef` is the API's hook for a Model Garden input that is not a
``pipeline.config`` path; :func:`load_spec` resolves one into a
:class:`~.spec.ModelGardenSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tfod_anchors.frameworks.modelgarden import experiment as mgx
from tfod_anchors.frameworks.modelgarden.spec import ModelGardenSpec, model_garden_spec


def load_spec(config: str | None = None, *, experiment: str | None = None,
              config_files: tuple[str, ...] | list[str] = (),
              params_override: str | None = None) -> ModelGardenSpec:
    """The spec of a Model Garden input as the command line names it.

    ``--experiment NAME [--config-file Y]... [--params-override S]`` (with a YAML
    ``config`` argument, that file is applied first, as the first ``--config_file``); or a
    resolved ``params.yaml`` as ``config`` alone (no Model Garden import).

    Raises:
        UsageError: neither given, or the Model Garden missing for ``--experiment``.
        ConfigError: see :func:`.experiment.resolve_experiment` / ``read_params_yaml``.
    """
    from tfod_anchors.errors import UsageError

    if experiment:
        files = ([config] if config else []) + list(config_files)
        exp = mgx.resolve_experiment(experiment, files, params_override)
        return model_garden_spec(exp, config, experiment)
    if config_files or params_override:
        raise UsageError("--config-file and --params-override need --experiment NAME")
    if not config:
        raise UsageError("no model config: pass a config file or --experiment NAME")
    return model_garden_spec(mgx.read_params_yaml(config), config)


#: File suffixes read as Model Garden YAML (anything else is a ``pipeline.config``).
YAML_SUFFIXES = (".yaml", ".yml")


def is_yaml_path(path: str) -> bool:
    """Whether ``path`` names a YAML file (a Model Garden experiment)."""
    return str(path).lower().endswith(YAML_SUFFIXES)


@dataclass(frozen=True)
class ExperimentRef:
    """A Model Garden input as the command line gives it, resolved at the API edge by
    :meth:`resolve_model` (the API's hook for configs that are not a file path).

    Attributes:
        name: ``--experiment`` (None: ``path`` is a resolved ``params.yaml``).
        config_files: ``--config-file`` values, in order (after ``path``).
        params_override: ``--params-override``.
        path: the YAML config argument, or None (``--experiment`` alone).
    """

    name: str | None = None
    config_files: tuple[str, ...] = ()
    params_override: str | None = None
    path: str | None = None

    def resolve_model(self) -> tuple[ModelGardenSpec, Any]:
        """``(spec, loaded)``: ``loaded`` is the YAML file as read (a
        :class:`~tfod_anchors.config.files.LoadedConfig` whose ``config`` is the resolved
        experiment; its text is what ``fit`` patches), or None without a file."""
        from tfod_anchors.config.files import LoadedConfig
        from tfod_anchors.frameworks.modelgarden.yaml_patch import read_text

        loaded = None
        if self.path is not None:
            text, print_ = read_text(self.path)
        spec = load_spec(self.path, experiment=self.name, config_files=self.config_files,
                         params_override=self.params_override)
        if self.path is not None:
            loaded = LoadedConfig(self.path, text.encode("utf-8"), text, print_,
                                  spec.experiment, None)  # type: ignore[arg-type]
        return spec, loaded

    def __str__(self) -> str:
        parts = [self.path] if self.path else []
        if self.name:
            parts.append(f"--experiment {self.name}")
        return " ".join(parts) or "(no config)"
