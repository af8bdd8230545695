//! Parameter groups: a different rate or weight decay for the parameters
//! whose names match a predicate.

use crate::nn::ParamId;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// How a parameter group differs from the optimiser's defaults.
///
/// ```
/// use tapegrad::optim::GroupOptions;
/// // no weight decay, same rate
/// let no_decay = GroupOptions { weight_decay: Some(0.0), ..GroupOptions::default() };
/// // a tenth of the rate (follows the schedule), default decay
/// let slow = GroupOptions { lr_scale: 0.1, ..GroupOptions::default() };
/// # let _ = (no_decay, slow);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroupOptions {
    /// Multiplies the optimiser's learning rate for this group, so the group
    /// still follows [`set_lr`](super::Optimizer::set_lr) and any schedule.
    /// 1.0 keeps the rate.
    pub lr_scale: f64,
    /// A fixed learning rate for this group, used instead of the scaled
    /// optimiser rate: `set_lr` and schedules do not move it.
    pub lr: Option<f64>,
    /// The group's weight decay, instead of the optimiser's.
    pub weight_decay: Option<f64>,
}

impl Default for GroupOptions {
    /// No difference: scale 1, no fixed rate, the optimiser's decay.
    fn default() -> Self {
        GroupOptions {
            lr_scale: 1.0,
            lr: None,
            weight_decay: None,
        }
    }
}

type Select = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// The groups of one optimiser, in the order they were added, with each
/// parameter's group remembered by id after its name was first matched.
#[derive(Clone, Default)]
pub(crate) struct Groups {
    groups: Vec<(Select, GroupOptions)>,
    /// Index into `groups`, or `None` for "no group": names are matched once
    /// per parameter, not once per step.
    cache: HashMap<ParamId, Option<usize>>,
}

impl Groups {
    /// Adds a group; earlier groups win when several match a name.
    ///
    /// # Panics
    /// If a rate, scale or decay is negative or not finite.
    pub(crate) fn add(&mut self, select: Select, options: GroupOptions) {
        check_non_negative("group", "lr_scale", options.lr_scale);
        if let Some(lr) = options.lr {
            check_non_negative("group", "lr", lr);
        }
        if let Some(wd) = options.weight_decay {
            check_non_negative("group", "weight_decay", wd);
        }
        self.groups.push((select, options));
        self.cache.clear();
    }

    /// The learning rate and weight decay for the parameter `id` called
    /// `name`, given the optimiser's own.
    pub(crate) fn resolve(&mut self, name: &str, id: ParamId, lr: f64, wd: f64) -> (f64, f64) {
        if self.groups.is_empty() {
            return (lr, wd);
        }
        let groups = &self.groups;
        let k = *self
            .cache
            .entry(id)
            .or_insert_with(|| groups.iter().position(|(select, _)| select(name)));
        match k {
            None => (lr, wd),
            Some(k) => {
                let o = &self.groups[k].1;
                (
                    o.lr.unwrap_or(lr * o.lr_scale),
                    o.weight_decay.unwrap_or(wd),
                )
            }
        }
    }
}

impl fmt::Debug for Groups {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.groups.iter().map(|(_, o)| o))
            .finish()
    }
}

/// Panics unless `value` is finite and at least 0, naming the optimiser and
/// the argument.
pub(crate) fn check_non_negative(optimizer: &str, argument: &str, value: f64) {
    assert!(
        value.is_finite() && value >= 0.0,
        "{optimizer}: {argument} must be a finite number >= 0, got {value}"
    );
}

/// Panics unless `0 <= value < 1`, naming the optimiser and the argument.
pub(crate) fn check_unit(optimizer: &str, argument: &str, value: f64) {
    assert!(
        (0.0..1.0).contains(&value),
        "{optimizer}: {argument} must be in [0, 1), got {value}"
    );
}

/// Panics unless `value` is finite and greater than 0, naming the
/// optimiser and the argument.
pub(crate) fn check_positive(optimizer: &str, argument: &str, value: f64) {
    assert!(
        value.is_finite() && value > 0.0,
        "{optimizer}: {argument} must be a finite number > 0, got {value}"
    );
}

/// Panics unless `value` is at least 1 (infinity allowed: no limit), naming
/// the optimiser and the argument.
pub(crate) fn check_growth(optimizer: &str, argument: &str, value: f64) {
    assert!(
        value >= 1.0,
        "{optimizer}: {argument} must be >= 1 (or infinite, for no limit), got {value}"
    );
}
