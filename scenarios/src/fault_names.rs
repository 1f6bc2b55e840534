//! The names of unnamed faults. A link fault's draws are keyed by its name
//! (docs/determinism.md), so an unnamed fault is named by what it is, not by where it stands in
//! the file: its kind and what it acts on (`loss checkout/payments → us-east`,
//! `region-outage eu-west`), with ` #2`, ` #3`, … on later faults that would get the same name.
//! Adding or removing another fault then leaves its name, and its draws, as they were.

/// What a fault acts on, as written in its table.
#[derive(Debug, Default)]
pub struct Subject<'a> {
    pub kind: &'a str,
    /// `region`, `zone`, `node` or `targets`.
    pub on: Vec<&'a str>,
    /// The two sides of a link fault.
    pub from: Vec<&'a str>,
    pub to: Vec<&'a str>,
    pub one_way: bool,
}

impl Subject<'_> {
    fn name(&self) -> String {
        let mut s = self.kind.to_owned();
        if !self.on.is_empty() {
            s.push(' ');
            s.push_str(&self.on.join(", "));
        }
        if !self.from.is_empty() || !self.to.is_empty() {
            let arrow = if self.one_way { " → " } else { " ↔ " };
            s.push(' ');
            s.push_str(&self.from.join(", "));
            s.push_str(arrow);
            s.push_str(&self.to.join(", "));
        }
        s
    }
}

/// The name of each fault: its own (`Some`), or for an unnamed one (`None`) its subject's, made
/// unique among the unnamed faults in file order.
pub fn names<'a>(faults: impl IntoIterator<Item = (Option<&'a str>, Subject<'a>)>) -> Vec<String> {
    let mut seen: Vec<(String, u32)> = Vec::new();
    faults
        .into_iter()
        .map(|(name, subject)| match name {
            Some(n) => n.to_owned(),
            None => {
                let base = subject.name();
                match seen.iter_mut().find(|(b, _)| *b == base) {
                    Some((_, n)) => {
                        *n += 1;
                        format!("{base} #{n}")
                    }
                    None => {
                        seen.push((base.clone(), 1));
                        base
                    }
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loss<'a>(from: &'a str, to: &'a str) -> Subject<'a> {
        Subject { kind: "loss", from: vec![from], to: vec![to], one_way: true, ..Subject::default() }
    }

    #[test]
    fn an_unnamed_fault_is_named_by_what_it_is_whatever_comes_before_it() {
        let outage = Subject { kind: "region-outage", on: vec!["eu"], ..Subject::default() };
        let alone = names([(None, loss("a", "b"))]);
        assert_eq!(alone, vec!["loss a → b"]);
        let after = names([(None, outage), (Some("mine"), loss("a", "b")), (None, loss("a", "b"))]);
        assert_eq!(after, vec!["region-outage eu", "mine", "loss a → b"]);
        let twice = names([(None, loss("a", "b")), (None, loss("c", "d")), (None, loss("a", "b"))]);
        assert_eq!(twice, vec!["loss a → b", "loss c → d", "loss a → b #2"]);
        let both_ways = Subject { kind: "partition", from: vec!["x", "y"], to: vec!["z"], ..Subject::default() };
        assert_eq!(names([(None, both_ways)]), vec!["partition x, y ↔ z"]);
    }
}
