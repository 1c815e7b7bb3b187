//! Settings from the worker's environment: `[vars]` in wrangler.toml, dashboard variables,
//! or `wrangler dev --var`. Each core setting `x` is read from the variable `TRIAGE_X`.

use triage_core::{Result, Settings};
use worker::Env;

/// A variable's value, if it is set.
pub fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|value| value.to_string())
}

/// The core settings, defaults for unset variables.
pub fn from_env(env: &Env) -> Result<Settings> {
    Settings::from_vars(|name| var(env, name))
}
