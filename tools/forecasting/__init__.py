"""Wardwise's forecaster: a global PyTorch quantile model, its baselines and benchmark.

Import the modules you need (importing this package does not import torch):

- :mod:`tools.forecasting.data` -- ``read_series``, ``Dataset``, ``Series``, ``split``
- :mod:`tools.forecasting.training` -- ``ModelConfig``, ``GlobalModel.fit / predict``
- :mod:`tools.forecasting.checkpoint` -- ``save``, ``load``, ``fingerprint``
- :mod:`tools.forecasting.baselines` -- ``fit_predict`` (statsforecast baselines)
- :mod:`tools.forecasting.metrics` -- ``mase``, ``smape``, ``coverage``, ``pinball``,
  ``panel_mase``, ``panel_sql`` (fev's definitions)
- :mod:`tools.forecasting.bench` -- ``run``, ``forecast_all``, ``run_file``, ``format_table``
- :mod:`tools.forecasting.windows` -- ``evaluate`` (rolling windows), ``format_table``
- :mod:`tools.forecasting.los` -- ``fit_los``, ``simulate_census``
- :mod:`tools.forecasting.wards` -- ``WardConfig``, ``train_ward_models``, ``backtest_rows``
- :mod:`tools.forecast_cli` (beside this package: it also builds the ward forecaster) --
  ``register(app, bench_app)``

See docs/forecasting.md for the measurements behind the choices.
"""
