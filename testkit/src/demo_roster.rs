//! A deterministic demo community, as roster rows: the same seed gives the
//! same compounds, buildings, households, residents and contracting members.
//! Used by `gridsync-demo community` and by the benchmarks.

use gridsync_core::roster::RosterRow;
use gridsync_core::{Date, Gender};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "高", "罗",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀英", "桂兰", "建国", "淑珍", "志强",
];
const ROADS: &[&str] = &[
    "桐柏路",
    "建设路",
    "伏牛路",
    "中原路",
    "淮河路",
    "汝河路",
    "嵩山路",
    "陇海路",
];

fn name(rng: &mut StdRng) -> String {
    format!(
        "{}{}",
        SURNAMES[rng.random_range(0..SURNAMES.len())],
        GIVEN[rng.random_range(0..GIVEN.len())]
    )
}

/// Roster rows of a community of about `households` households with one to
/// five residents each (three on average), spread over compounds of about
/// 125 households, buildings of about 24, and contract groups of about 10.
pub fn community_roster(seed: u64, households: usize) -> Vec<RosterRow> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut rows = Vec::with_capacity(households * 3);
    let per_building = 24;
    let per_compound = per_building * 5;
    let mut line = 1;
    let mut member = String::new();
    let mut seq: u32 = 0;
    let mut used: std::collections::HashSet<String> = std::collections::HashSet::new();
    for h in 0..households {
        let compound = format!(
            "{}{}号院",
            ROADS[(h / per_compound) % ROADS.len()],
            10 + (h / per_compound) * 3
        );
        let building = format!("{}号楼", (h % per_compound) / per_building + 1);
        let unit = format!("{}", (h % per_building) / 8 + 1);
        let door = format!("{}{:02}", (h % 8) / 2 + 1, h % 2 + 1);
        if h % 10 == 0 {
            member = format!("{}(党员{})", name(&mut rng), h / 10 + 1);
        }
        let n = [1, 2, 2, 3, 3, 3, 4, 4, 5][rng.random_range(0..9)];
        let head = name(&mut rng);
        let phone = format!(
            "13{}{:08}",
            rng.random_range(3..10),
            rng.random_range(0..100_000_000u32)
        );
        for r in 0..n {
            line += 1;
            seq += 1;
            let year = if r == 0 {
                rng.random_range(1940..1995)
            } else {
                rng.random_range(1950..2020)
            };
            let birth = chrono::NaiveDate::from_ymd_opt(
                year,
                rng.random_range(1..13),
                rng.random_range(1..29),
            )
            .unwrap_or_default();
            let female = rng.random_bool(0.5);
            // The sequence digits are odd for men, even for women; bump them
            // until the number is unique in this roster.
            let mut s = seq % 500;
            let first17 = loop {
                let f = format!(
                    "410102{}{:03}",
                    birth.format("%Y%m%d"),
                    s * 2 + if female { 0 } else { 1 }
                );
                if used.insert(f.clone()) {
                    break f;
                }
                s = (s + 1) % 500;
            };
            let id_number = format!(
                "{first17}{}",
                gridsync_core::validate::id_check_char(&first17).unwrap_or('0')
            );
            rows.push(RosterRow {
                line,
                compound: compound.clone(),
                building: building.clone(),
                unit: unit.clone(),
                door: door.clone(),
                head_name: head.clone(),
                household_phone: Some(phone.clone()),
                name: if r == 0 { head.clone() } else { name(&mut rng) },
                id_number: Some(id_number),
                gender: Some(if female { Gender::Female } else { Gender::Male }),
                birth_date: Some(Date(birth)),
                relation: Some(
                    if r == 0 {
                        "本人"
                    } else {
                        ["配偶", "子女", "父母", "孙子女"][rng.random_range(0..4)]
                    }
                    .to_string(),
                ),
                phone: None,
                lives_alone: n == 1 && year < 1960,
                // Every 17th household has no contracting member yet: a gap to show.
                contract_member: if h % 17 == 16 {
                    None
                } else {
                    Some(member.clone())
                },
            });
        }
    }
    rows
}

/// The rows as a CSV roster with Chinese headers, as an office would keep it.
pub fn to_csv(rows: &[RosterRow]) -> String {
    let mut out = String::from(
        "楼院,楼栋,单元,门牌号,户主姓名,联系电话,姓名,身份证号,性别,出生日期,与户主关系,本人电话,独居,联包党员\n",
    );
    for r in rows {
        let f = r.raw_fields();
        out.push_str(
            &f.iter()
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_roster_and_it_parses_clean() {
        let a = community_roster(7, 50);
        assert_eq!(a, community_roster(7, 50));
        assert_ne!(a, community_roster(8, 50));
        let parsed = gridsync_core::roster::parse(to_csv(&a).as_bytes()).unwrap();
        assert!(
            parsed.errors.is_empty(),
            "{:?}",
            &parsed.errors[..parsed.errors.len().min(3)]
        );
        assert_eq!(parsed.rows, a);
    }
}
