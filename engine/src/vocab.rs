//! Closed vocabularies the workflows refer to: roles, escalation levels, meeting kinds.
//! Each entry carries its zh-CN and English label.

use std::collections::BTreeMap;
use std::ops::Bound;

/// Roles an actor can act in. Workflow `roles` tables may only name these.
pub const ROLES: &[(&str, &str, &str)] = &[
    ("resident", "居民", "resident"),
    ("resident_representative", "居民代表", "resident representative"),
    ("convener", "召集人", "convener"),
    ("community_staff", "社区工作者", "community staff"),
    ("social_worker", "社会工作者", "social worker"),
    ("social_organisation", "社区社会组织", "community social organisation"),
    ("volunteer", "社区志愿者", "community volunteer"),
    ("charity", "社区公益慈善资源", "community charity resource"),
    ("party_member", "下沉党员", "deployed party member"),
    ("property_company", "物业服务企业", "property management company"),
    ("owners_committee", "业主委员会", "owners' committee"),
    ("street_officer", "街道干部", "sub-district officer"),
    ("district_officer", "区级干部", "district officer"),
    ("auditor", "审计监督人员", "auditor"),
    ("system", "系统", "system"),
];

/// Escalation levels: 小事不出社区，大事不出街道.
pub const LEVELS: &[(&str, &str, &str)] =
    &[("community", "社区", "community"), ("street", "街道", "sub-district"), ("district", "区", "district")];

/// Kinds of meeting that can act on issues.
pub const MEETING_KINDS: &[(&str, &str, &str)] = &[
    ("consultation_day", "社区协商民主日", "consultation democracy day"),
    ("joint_meeting", "五社联动联席会议", "joint meeting of the five societies"),
    ("tripartite", "三方联动会议", "tripartite meeting"),
    ("resident_representatives", "居民代表会议", "resident representatives' meeting"),
    ("building_heads", "楼栋长会议", "building heads' meeting"),
    ("dialogue", "社区对话会", "community dialogue"),
];

/// Kinds of neighbourhood problem (`IssueRaised.category`, the schema's enum), as the sources
/// name the hard cases (疑难杂症).
pub const CATEGORIES: &[(&str, &str, &str)] = &[
    ("sanitation", "卫生死角", "sanitation blind spots"),
    ("parking", "停车难", "parking"),
    ("pets", "宠物管理", "pets"),
    ("stairwell", "楼道管理", "stairwells"),
    ("garbage_sorting", "垃圾分类", "garbage sorting"),
    ("noise", "噪音扰民", "noise"),
    ("laundry", "公共区域晾晒", "laundry in common areas"),
    ("elderly_care", "养老助老", "care for the elderly"),
    ("children", "儿童关爱", "children"),
    ("hardship", "困难帮扶", "households in hardship"),
    ("safety", "安全隐患", "safety hazards"),
    ("environment", "环境整治", "environment"),
    ("other", "其他", "other"),
];

/// The zh-CN and English label of a vocabulary entry; the key itself (and no English) when
/// the table does not list it, so nothing recorded is hidden.
pub fn label(table: &[(&str, &str, &str)], key: &str) -> crate::text::LocalizedText {
    table.iter().find(|(k, _, _)| *k == key).map_or_else(
        || crate::text::LocalizedText { zh: key.to_string(), en: None },
        |(_, zh, en)| crate::text::LocalizedText::new(*zh, *en),
    )
}

pub fn is_role(r: &str) -> bool {
    ROLES.iter().any(|(k, _, _)| *k == r)
}

pub fn is_meeting_kind(k: &str) -> bool {
    MEETING_KINDS.iter().any(|(m, _, _)| *m == k)
}

/// Rank of an escalation level (community 0, street 1, district 2).
pub fn level_rank(level: &str) -> Option<usize> {
    LEVELS.iter().position(|(k, _, _)| *k == level)
}

/// Does community code `code` lie at or below `scope`? Segment-aware: `wuhan/wu` does not
/// cover `wuhan/wuchang`.
pub fn community_within(code: &str, scope: &str) -> bool {
    let scope = scope.trim_end_matches('/');
    scope.is_empty() || code == scope || (code.starts_with(scope) && code.as_bytes().get(scope.len()) == Some(&b'/'))
}

/// The entries of a map keyed by community code whose code lies at or below `scope` (a code
/// without a trailing slash), found without walking the map: the codes starting with `scope`
/// sort together from `scope` on, and of those only `scope` itself and codes continuing with
/// `/` are below it (`…/c1` is not above `…/c10`).
pub fn codes_within<'a, V>(map: &'a BTreeMap<String, V>, scope: &'a str) -> impl Iterator<Item = &'a V> + 'a {
    map.range::<str, _>((Bound::Included(scope), Bound::Unbounded))
        .take_while(move |(code, _)| code.starts_with(scope))
        .filter(move |(code, _)| community_within(code, scope))
        .map(|(_, v)| v)
}

/// Is a scope holding `held` of `total` entries found faster through a community-code map
/// than by walking all of them? Under a quarter: gathering and sorting a tree's entries costs
/// more per entry than a walk does (a list also stops a walk at its page).
pub fn narrower_than_a_walk(held: usize, total: usize) -> bool {
    held * 4 < total
}

/// The communities above `code`, from the city down (`wuhan`, `wuhan/wuchang`, … for
/// `wuhan/wuchang/x-street/y`).
pub fn communities_above(code: &str) -> impl Iterator<Item = &str> {
    code.match_indices('/').map(move |(i, _)| &code[..i]).filter(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_within_a_scope_are_found_by_range_and_segment() {
        let map: BTreeMap<String, u8> = [
            ("wuhan/wuchang/a/c1", 1),
            ("wuhan/wuchang/a/c1-x", 2),
            ("wuhan/wuchang/a/c10", 3),
            ("wuhan/wuchang/a/c1/b", 4),
            ("wuhan/wuchang/a", 5),
            ("wuhan/wuchang/a2/c1", 6),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(codes_within(&map, "wuhan/wuchang/a/c1").copied().collect::<Vec<_>>(), [1, 4]);
        assert_eq!(codes_within(&map, "wuhan/wuchang/a").copied().collect::<Vec<_>>(), [5, 1, 2, 4, 3]);
        assert_eq!(codes_within(&map, "wuhan/wuchang/a/c").count(), 0);
        assert_eq!(
            communities_above("wuhan/wuchang/a/c1").collect::<Vec<_>>(),
            ["wuhan", "wuhan/wuchang", "wuhan/wuchang/a"]
        );
        assert_eq!(communities_above("wuhan").count(), 0);
    }

    #[test]
    fn community_scope_is_segment_aware() {
        assert!(community_within("wuhan/wuchang/x-street/y", "wuhan/wuchang"));
        assert!(community_within("wuhan/wuchang", "wuhan/wuchang"));
        assert!(!community_within("wuhan/wuchang2/x", "wuhan/wuchang"));
        assert!(!community_within("wuhan", "wuhan/wuchang"));
    }
}
