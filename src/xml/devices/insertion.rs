//! The order libvirt keeps disks and controllers in: it inserts each one it reads after
//! the last of its group (bus, controller type) unless one of the group has a greater
//! index, so documents that list them out of order come back sorted within each group.

use crate::xml::tree::{Element, Node, SmallStr};

/// A device's group and index; `None` as index puts it last in its group.
pub type Key<G = String> = (G, Option<i64>);

/// Reorders the `name` children of `parent` as libvirt's insertion would, leaving every
/// other child where it is.
pub fn sort(parent: &mut Element, name: &str, key: impl Fn(&Element) -> Key<SmallStr>) {
    // One device, or none, is in order: nothing to compute (nor allocate).
    if parent.children_named(name).nth(1).is_none() {
        return;
    }
    let keys: Vec<Key<SmallStr>> = parent.children_named(name).map(key).collect();
    let order = order(&keys);
    if order.iter().enumerate().all(|(i, &from)| i == from) {
        return;
    }
    let slots: Vec<usize> = parent
        .children
        .iter()
        .enumerate()
        .filter(|(_, n)| matches!(n, Node::Element(e) if e.name == name))
        .map(|(i, _)| i)
        .collect();
    let mut taken: Vec<Option<Node>> = slots
        .iter()
        .map(|&i| {
            Some(std::mem::replace(
                &mut parent.children[i],
                Node::Text(SmallStr::default()),
            ))
        })
        .collect();
    for (&slot, from) in slots.iter().zip(order) {
        parent.children[slot] = taken[from].take().expect("order is a permutation");
    }
}

/// The positions of `keys` once each is inserted in turn.
fn order<G: PartialEq>(keys: &[Key<G>]) -> Vec<usize> {
    let mut placed: Vec<usize> = Vec::with_capacity(keys.len());
    for (i, (group, index)) in keys.iter().enumerate() {
        let mut at = None;
        for (pos, &j) in placed.iter().enumerate().rev() {
            let (g, x) = &keys[j];
            if g != group {
                continue;
            }
            match (index, x) {
                (None, _) => {
                    at = Some(pos + 1);
                    break;
                }
                (Some(index), Some(x)) if x > index => at = Some(pos),
                _ if at.is_none() => at = Some(pos + 1),
                _ => {}
            }
        }
        placed.insert(at.unwrap_or(placed.len()), i);
    }
    placed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(group: &str, index: i64) -> Key {
        (group.to_owned(), Some(index))
    }

    // Disks vdb, sdc, vda, hdd, fda, xvda, sdb (sata), ubda, hda with no bus given (all
    // one group but sdb): libvirt 9.0 lists vda fda xvda ubda hda vdb sdc hdd sdb.
    #[test]
    fn disks_without_bus_sort_like_libvirt() {
        let keys = [
            key("", 1),
            key("", 2),
            key("", 0),
            key("", 3),
            key("", 0),
            key("", 0),
            key("sata", 1),
            key("", 0),
            key("", 0),
        ];
        assert_eq!(order(&keys), [2, 4, 5, 7, 8, 0, 1, 3, 6]);
    }

    // Controllers virtio-serial 0, usb 1, scsi 0, usb 0, usb (no index).
    #[test]
    fn controllers_sort_within_their_type() {
        let keys = [
            key("virtio-serial", 0),
            key("usb", 1),
            key("scsi", 0),
            key("usb", 0),
            ("usb".into(), None),
        ];
        assert_eq!(order(&keys), [0, 3, 1, 4, 2]);
    }
}
