//! Settings from the worker's environment: `[vars]` in wrangler.toml, dashboard variables,
//! `wrangler secret put` (secrets read the same way), or `wrangler dev --var`. Each core
//! setting `x` is read from the variable `TRIAGE_X`.

use triage_core::{Result, Settings};
use worker::Env;

/// A variable's value, if it is set.
pub fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|value| value.to_string())
}

/// Core setting `key` (snake case) from its variable or secret, `TRIAGE_<KEY>`.
pub fn setting(env: &Env, key: &str) -> Option<String> {
    var(env, &Settings::var_name(key))
}

/// The core settings, defaults for unset variables.
pub fn from_env(env: &Env) -> Result<Settings> {
    Settings::from_vars(|name| var(env, name))
}
