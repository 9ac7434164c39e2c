//! CSV rosters of households and residents, the way a street office keeps
//! them in a spreadsheet: one row per resident, the household's address and
//! head repeated on each row. Headers may be Chinese or English (see
//! [`COLUMNS`]); every row is checked on its own and a bad row is reported
//! by line, column and reason without stopping the others.
//!
//! [`plan_row`] turns a good row into edits against the community as it
//! stands, matching what is already there (compound and building by name,
//! household by building, unit and door, resident by ID number or by name in
//! the household), so that importing the same file twice adds nothing.

use serde::Serialize;

use crate::ids::PersonKeySecret;
use crate::model::*;
use crate::record::{Kind, Record};
use crate::replica::Edit;
use crate::validate;
use crate::view::CommunityView;

mod lookup;
pub use lookup::Lookup;
use lookup::candidates;

/// A column of the roster: its key, the headers accepted for it (Chinese
/// first, then English), and whether a row must fill it.
pub struct Column {
    pub key: &'static str,
    pub headers: &'static [&'static str],
    pub required: bool,
    pub meaning: &'static str,
}

/// The roster's columns. Order in the file does not matter.
pub const COLUMNS: &[Column] = &[
    Column {
        key: "compound",
        headers: &["楼院", "小区", "compound"],
        required: true,
        meaning: "compound (楼院) name",
    },
    Column {
        key: "building",
        headers: &["楼栋", "楼号", "building"],
        required: true,
        meaning: "building name within the compound",
    },
    Column {
        key: "unit",
        headers: &["单元", "unit"],
        required: false,
        meaning: "unit (单元); empty if none",
    },
    Column {
        key: "door",
        headers: &["门牌号", "房号", "door"],
        required: true,
        meaning: "door number",
    },
    Column {
        key: "head_name",
        headers: &["户主姓名", "户主", "head_name"],
        required: true,
        meaning: "head of household",
    },
    Column {
        key: "household_phone",
        headers: &["联系电话", "household_phone"],
        required: false,
        meaning: "the household's contact phone",
    },
    Column {
        key: "name",
        headers: &["姓名", "name"],
        required: true,
        meaning: "the resident's name",
    },
    Column {
        key: "id_number",
        headers: &["身份证号", "身份证号码", "id_number"],
        required: false,
        meaning: "18-character resident ID number",
    },
    Column {
        key: "gender",
        headers: &["性别", "gender"],
        required: false,
        meaning: "男/女 or male/female",
    },
    Column {
        key: "birth_date",
        headers: &["出生日期", "birth_date"],
        required: false,
        meaning: "YYYY-MM-DD; taken from the ID number when empty",
    },
    Column {
        key: "relation",
        headers: &["与户主关系", "relation"],
        required: false,
        meaning: "relation to the head (本人, 配偶, 子女…)",
    },
    Column {
        key: "phone",
        headers: &["本人电话", "手机号", "phone"],
        required: false,
        meaning: "the resident's own phone",
    },
    Column {
        key: "lives_alone",
        headers: &["独居", "是否独居", "lives_alone"],
        required: false,
        meaning: "是/否, yes/no",
    },
    Column {
        key: "contract_member",
        headers: &["联包党员", "contract_member"],
        required: false,
        meaning: "name of the contracting party member",
    },
];

/// One good row of a roster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RosterRow {
    /// The line in the file (the header is line 1).
    pub line: u64,
    pub compound: String,
    pub building: String,
    pub unit: String,
    pub door: String,
    pub head_name: String,
    pub household_phone: Option<String>,
    pub name: String,
    pub id_number: Option<String>,
    pub gender: Option<Gender>,
    pub birth_date: Option<Date>,
    pub relation: Option<String>,
    pub phone: Option<String>,
    pub lives_alone: bool,
    pub contract_member: Option<String>,
}

impl RosterRow {
    /// The row's fields by column key (see [`COLUMNS`]), as a file would
    /// hold them: what a client sends and [`import_rows`] takes.
    pub fn raw_fields(&self) -> Vec<(&'static str, String)> {
        let r = self;
        let o = |s: &Option<String>| s.clone().unwrap_or_default();
        vec![
            ("compound", r.compound.clone()),
            ("building", r.building.clone()),
            ("unit", r.unit.clone()),
            ("door", r.door.clone()),
            ("head_name", r.head_name.clone()),
            ("household_phone", o(&r.household_phone)),
            ("name", r.name.clone()),
            ("id_number", o(&r.id_number)),
            (
                "gender",
                match r.gender {
                    Some(Gender::Female) => "女".into(),
                    Some(Gender::Male) => "男".into(),
                    None => String::new(),
                },
            ),
            (
                "birth_date",
                r.birth_date.map(|d| d.to_string()).unwrap_or_default(),
            ),
            ("relation", o(&r.relation)),
            ("phone", o(&r.phone)),
            (
                "lives_alone",
                if r.lives_alone {
                    "是".into()
                } else {
                    "否".into()
                },
            ),
            ("contract_member", o(&r.contract_member)),
        ]
    }
}

/// Why a row (or the file) was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// Line in the file; 1 is the header.
    pub line: u64,
    /// The column as headed in the file; empty for the whole row or file.
    pub column: String,
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.column.is_empty() {
            write!(f, "line {}: {}", self.line, self.reason)
        } else {
            write!(
                f,
                "line {}, column {}: {}",
                self.line, self.column, self.reason
            )
        }
    }
}

/// A parsed roster: good rows and the errors of bad ones.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ParsedRoster {
    pub rows: Vec<RosterRow>,
    pub errors: Vec<RowError>,
    /// How the file's text was read: "UTF-8" or "GB18030/GBK".
    pub encoding: &'static str,
}

/// The most rows a roster may hold; a community has a few tens of thousands.
pub const MAX_ROWS: usize = 200_000;

fn file_error(reason: impl Into<String>) -> RowError {
    RowError {
        line: 1,
        column: String::new(),
        reason: reason.into(),
    }
}

/// Parses a roster. A problem with the file as a whole (not UTF-8, a
/// missing or unknown header) is an `Err`; a problem with a row goes into
/// `errors` and the other rows are still read.
pub fn parse(bytes: &[u8]) -> Result<ParsedRoster, RowError> {
    // Excel in a Chinese locale saves "CSV" as GBK; take that too, and say so.
    let (text, encoding): (std::borrow::Cow<'_, str>, &'static str) = match std::str::from_utf8(
        bytes,
    ) {
        Ok(t) => (t.into(), "UTF-8"),
        Err(utf8) => {
            match encoding_rs::GB18030.decode_without_bom_handling_and_without_replacement(bytes) {
                Some(t) => (t, "GB18030/GBK"),
                None => {
                    return Err(file_error(format!(
                        "the file is neither UTF-8 nor GBK text (invalid byte at offset {}); save it from the spreadsheet as \"CSV UTF-8\"",
                        utf8.valid_up_to()
                    )));
                }
            }
        }
    };
    let text: &str = &text;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| file_error(format!("cannot read the header row: {e}")))?
        .clone();
    // column index in the file -> column key
    let mut index: Vec<Option<&'static Column>> = Vec::new();
    let mut seen: Vec<&'static str> = Vec::new();
    for h in headers.iter() {
        let h = h.trim();
        let col = COLUMNS
            .iter()
            .find(|c| c.headers.iter().any(|x| x.eq_ignore_ascii_case(h)));
        match col {
            Some(c) if seen.contains(&c.key) => {
                return Err(file_error(format!(
                    "column {} appears twice",
                    crate::error::quote(h)
                )));
            }
            Some(c) => {
                seen.push(c.key);
                index.push(Some(c));
            }
            None if h.is_empty() => index.push(None),
            None => {
                return Err(file_error(format!(
                    "unknown column {}; the columns are: {}",
                    crate::error::quote(h),
                    COLUMNS
                        .iter()
                        .map(|c| c.headers.join("/"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    }
    let missing: Vec<String> = COLUMNS
        .iter()
        .filter(|c| c.required && !seen.contains(&c.key))
        .map(|c| c.headers.join("/"))
        .collect();
    if !missing.is_empty() {
        return Err(file_error(format!(
            "missing required column(s): {}",
            missing.join(", ")
        )));
    }
    let header_of = |key: &str| -> String {
        headers
            .iter()
            .zip(&index)
            .find(|(_, c)| c.is_some_and(|c| c.key == key))
            .map(|(h, _)| h.trim().to_string())
            .unwrap_or_else(|| key.to_string())
    };

    let mut out = ParsedRoster {
        encoding,
        ..ParsedRoster::default()
    };
    let mut id_lines: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for (n, rec) in rdr.records().enumerate() {
        let line = n as u64 + 2;
        if n >= MAX_ROWS {
            return Err(file_error(format!(
                "the file has more than {MAX_ROWS} rows; split it"
            )));
        }
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                out.errors.push(RowError {
                    line,
                    column: String::new(),
                    reason: format!("not a CSV row: {e}"),
                });
                continue;
            }
        };
        let line = rec.position().map(|p| p.line()).unwrap_or(line);
        if rec.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if rec.len() != headers.len() {
            out.errors.push(RowError {
                line,
                column: String::new(),
                reason: format!("has {} fields; the header has {}", rec.len(), headers.len()),
            });
            continue;
        }
        let get = |key: &str| -> Option<String> {
            index
                .iter()
                .position(|c| c.is_some_and(|c| c.key == key))
                .and_then(|i| rec.get(i))
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        match check_row(line, &get, &header_of) {
            Ok(row) => {
                // One person, one row: a second row with the same ID number
                // would move them back and forth on every import.
                if let Some(n) = &row.id_number {
                    if let Some(first) = id_lines.get(n) {
                        out.errors.push(RowError {
                            line,
                            column: header_of("id_number"),
                            reason: format!("the same ID number is already on line {first}"),
                        });
                        continue;
                    }
                    id_lines.insert(n.clone(), line);
                }
                out.rows.push(row)
            }
            Err(errs) => out.errors.extend(errs),
        }
    }
    Ok(out)
}

/// Checks one row given its fields by column key (`get`) and the header the
/// file uses for each key (`header_of`, for messages). Used for CSV rows and
/// for rows that arrive over the API.
pub fn check_row(
    line: u64,
    get: &dyn Fn(&str) -> Option<String>,
    header_of: &dyn Fn(&str) -> String,
) -> Result<RosterRow, Vec<RowError>> {
    let mut errs: Vec<RowError> = Vec::new();
    let mut err = |key: &str, reason: String| {
        errs.push(RowError {
            line,
            column: header_of(key),
            reason,
        })
    };
    let required = |key: &str, err: &mut dyn FnMut(&str, String)| -> String {
        match get(key) {
            Some(v) => {
                if let Err(e) = validate::name(key, &v) {
                    err(key, e.reason);
                }
                v
            }
            None => {
                err(key, "is empty; it is required".into());
                String::new()
            }
        }
    };
    let compound = required("compound", &mut err);
    let building = required("building", &mut err);
    let door = required("door", &mut err);
    let head_name = required("head_name", &mut err);
    let name = required("name", &mut err);
    let unit = get("unit").unwrap_or_default();
    if let Err(e) = validate::text_len("unit", &unit, 20) {
        err("unit", e.reason);
    }
    let phone_of = |key: &str, err: &mut dyn FnMut(&str, String)| {
        let v = get(key)?;
        match validate::phone(key, &v) {
            Ok(()) => Some(v),
            Err(e) => {
                err(key, e.reason);
                None
            }
        }
    };
    let household_phone = phone_of("household_phone", &mut err);
    let phone = phone_of("phone", &mut err);
    let mut born_from_id = None;
    let id_number = match get("id_number") {
        Some(v) => match validate::id_number("id_number", &v) {
            Ok(b) => {
                born_from_id = Some(b);
                Some(v.to_ascii_uppercase())
            }
            Err(e) => {
                err("id_number", e.reason);
                None
            }
        },
        None => None,
    };
    let gender = match get("gender").as_deref() {
        None => None,
        Some("男" | "男性") => Some(Gender::Male),
        Some("女" | "女性") => Some(Gender::Female),
        Some(g) if g.eq_ignore_ascii_case("male") || g.eq_ignore_ascii_case("m") => {
            Some(Gender::Male)
        }
        Some(g) if g.eq_ignore_ascii_case("female") || g.eq_ignore_ascii_case("f") => {
            Some(Gender::Female)
        }
        Some(g) => {
            err(
                "gender",
                format!(
                    "{} is not a gender (男/女, male/female)",
                    crate::error::quote(g)
                ),
            );
            None
        }
    };
    let birth_date = match get("birth_date") {
        Some(v) => match Date::parse("birth_date", &v) {
            Ok(d) => {
                if born_from_id.is_some_and(|b| b != d.0) {
                    err(
                        "birth_date",
                        format!("{d} does not match the ID number's birth date"),
                    );
                }
                Some(d)
            }
            Err(e) => {
                err("birth_date", e.reason);
                None
            }
        },
        None => born_from_id.map(Date),
    };
    let lives_alone = match get("lives_alone").as_deref() {
        None => false,
        Some(v)
            if ["是", "y", "yes", "true", "1"]
                .iter()
                .any(|x| x.eq_ignore_ascii_case(v)) =>
        {
            true
        }
        Some(v)
            if ["否", "n", "no", "false", "0"]
                .iter()
                .any(|x| x.eq_ignore_ascii_case(v)) =>
        {
            false
        }
        Some(v) => {
            err(
                "lives_alone",
                format!("{} is not yes or no (是/否)", crate::error::quote(v)),
            );
            false
        }
    };
    let relation = get("relation");
    if let Some(r) = &relation
        && let Err(e) = validate::text_len("relation", r, 20)
    {
        err("relation", e.reason);
    }
    let contract_member = get("contract_member");
    if let Some(m) = &contract_member
        && let Err(e) = validate::name("contract_member", m)
    {
        err("contract_member", e.reason);
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(RosterRow {
        line,
        compound,
        building,
        unit,
        door,
        head_name,
        household_phone,
        name,
        id_number,
        gender,
        birth_date,
        relation,
        phone,
        lives_alone,
        contract_member,
    })
}

/// The edits that bring the community in line with one roster row, given
/// the community as it stands. Nothing is planned for what already matches,
/// so importing a row twice plans nothing the second time. `new_id` makes
/// ids for records the row creates.
pub fn plan_row(
    v: &CommunityView,
    lookup: &Lookup,
    row: &RosterRow,
    secret: Option<&PersonKeySecret>,
    new_id: &mut dyn FnMut(Kind) -> String,
) -> Vec<Edit> {
    let mut edits = Vec::new();
    let compound = candidates(&lookup.compounds, &row.compound)
        .filter_map(|id| v.compounds.get(id))
        .find(|c| c.name == row.compound);
    let compound_id = match compound {
        Some(c) => c.id.clone(),
        None => {
            let id = new_id(Kind::Compound);
            edits.push(Edit::Create(Record::Compound(Compound {
                id: id.clone(),
                name: row.compound.clone(),
                address: None,
            })));
            id
        }
    };
    let building = candidates(
        &lookup.buildings,
        &(compound_id.clone(), row.building.clone()),
    )
    .filter_map(|id| v.buildings.get(id))
    .find(|b| b.compound_id == compound_id && b.name == row.building);
    let building_id = match building {
        Some(b) => b.id.clone(),
        None => {
            let id = new_id(Kind::Building);
            edits.push(Edit::Create(Record::Building(Building {
                id: id.clone(),
                compound_id: compound_id.clone(),
                name: row.building.clone(),
            })));
            id
        }
    };
    let contract_group_id = row.contract_member.as_ref().map(|m| {
        let member = candidates(&lookup.members, m)
            .filter_map(|id| v.party_members.get(id))
            .find(|p| &p.name == m);
        let member_id = match member {
            Some(p) => p.id.clone(),
            None => {
                let id = new_id(Kind::PartyMember);
                edits.push(Edit::Create(Record::PartyMember(PartyMember {
                    id: id.clone(),
                    name: m.clone(),
                    kind: PartyMemberKind::SelfManaged,
                    phone: None,
                    resident_id: None,
                    workplace: None,
                })));
                id
            }
        };
        let group = candidates(&lookup.groups, &member_id)
            .filter_map(|id| v.contract_groups.get(id))
            .find(|g| g.party_member_id == member_id);
        match group {
            Some(g) => g.id.clone(),
            None => {
                let id = new_id(Kind::ContractGroup);
                edits.push(Edit::Create(Record::ContractGroup(ContractGroup {
                    id: id.clone(),
                    party_member_id: member_id,
                    name: None,
                })));
                id
            }
        }
    });
    let existing_household = candidates(
        &lookup.households,
        &(building_id.clone(), row.unit.clone(), row.door.clone()),
    )
    .filter_map(|id| v.households.get(id))
    .find(|h| h.building_id == building_id && h.unit == row.unit && h.door == row.door);
    let household_id = match existing_household {
        Some(h) => {
            let mut want = h.clone();
            want.head_name = row.head_name.clone();
            if row.household_phone.is_some() {
                want.phone = row.household_phone.clone();
            }
            if contract_group_id.is_some() {
                want.contract_group_id = contract_group_id.clone();
            }
            if &want != h {
                edits.push(Edit::Update(Record::Household(want)));
            }
            h.id.clone()
        }
        None => {
            let id = new_id(Kind::Household);
            edits.push(Edit::Create(Record::Household(Household {
                id: id.clone(),
                compound_id: compound_id.clone(),
                building_id: building_id.clone(),
                unit: row.unit.clone(),
                door: row.door.clone(),
                head_name: row.head_name.clone(),
                phone: row.household_phone.clone(),
                contract_group_id: contract_group_id.clone(),
            })));
            id
        }
    };
    let key = match (&row.id_number, secret) {
        (Some(n), Some(s)) => Some(crate::ids::PersonKey::derive(s, n).as_str().to_string()),
        _ => None,
    };
    let by_key = key
        .as_ref()
        .into_iter()
        .flat_map(|k| candidates(&lookup.residents_by_key, k))
        .filter_map(|id| v.residents.get(id))
        .find(|r| key.is_some() && r.person_key == key);
    let existing_resident = by_key.or_else(|| {
        candidates(
            &lookup.residents_by_name,
            &(household_id.clone(), row.name.clone()),
        )
        .filter_map(|id| v.residents.get(id))
        .find(|r| {
            r.household_id == household_id
                && r.name == row.name
                && (row.id_number.is_none()
                    || r.id_number.is_none()
                    || r.id_number == row.id_number)
        })
    });
    let want = Resident {
        id: existing_resident.map(|r| r.id.clone()).unwrap_or_default(),
        household_id: household_id.clone(),
        name: row.name.clone(),
        id_number: row
            .id_number
            .clone()
            .or_else(|| existing_resident.and_then(|r| r.id_number.clone())),
        person_key: key.or_else(|| existing_resident.and_then(|r| r.person_key.clone())),
        gender: row
            .gender
            .or_else(|| existing_resident.and_then(|r| r.gender)),
        birth_date: row
            .birth_date
            .or_else(|| existing_resident.and_then(|r| r.birth_date)),
        phone: row
            .phone
            .clone()
            .or_else(|| existing_resident.and_then(|r| r.phone.clone())),
        relation: row
            .relation
            .clone()
            .or_else(|| existing_resident.and_then(|r| r.relation.clone())),
        lives_alone: row.lives_alone,
    };
    match existing_resident {
        Some(r) if *r == want => {}
        Some(_) => edits.push(Edit::Update(Record::Resident(want))),
        None => {
            let mut want = want;
            want.id = new_id(Kind::Resident);
            edits.push(Edit::Create(Record::Resident(want)));
        }
    }
    edits
}

/// Counts of one import request.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    pub rows_created: u32,
    pub rows_updated: u32,
    pub rows_unchanged: u32,
    pub records_created: u32,
    pub errors: Vec<RowError>,
}

/// A roster row as raw fields by column key (see [`COLUMNS`]), with its
/// line in the file.
pub type RawRow = (u64, Vec<(&'static str, String)>);

/// Applies roster rows to `replica`, each row all or nothing, checked here
/// whatever a client checked: a row that breaks a rule is reported and
/// changes nothing. One person, one row per request, as for a file (see
/// [`parse`]). `new_id` makes the ids of new records. The caller commits
/// what was applied.
pub fn import_rows(
    replica: &mut crate::replica::CommunityReplica,
    rows: &[RawRow],
    ctx: &crate::replica::EditContext,
    secret: Option<&PersonKeySecret>,
    new_id: &mut dyn FnMut(Kind) -> String,
) -> ImportReport {
    let mut report = ImportReport::default();
    let mut lookup = Lookup::new(replica.view());
    let mut id_lines: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for (line, fields) in rows {
        let get = |key: &str| {
            fields
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let header = |key: &str| key.to_string();
        let row: RosterRow = match check_row(*line, &get, &header) {
            Ok(r) => r,
            Err(errs) => {
                report.errors.extend(errs);
                continue;
            }
        };
        if let Some(n) = &row.id_number {
            if let Some(first) = id_lines.get(n) {
                report.errors.push(RowError {
                    line: row.line,
                    column: "id_number".into(),
                    reason: format!("the same ID number is already on line {first}"),
                });
                continue;
            }
            id_lines.insert(n.clone(), row.line);
        }
        let edits = plan_row(replica.view(), &lookup, &row, secret, new_id);
        if edits.is_empty() {
            report.rows_unchanged += 1;
            continue;
        }
        match replica.apply(&edits, ctx, "import") {
            Ok(_) => {
                for e in &edits {
                    if let Edit::Create(r) | Edit::Update(r) = e {
                        lookup.update(replica.view(), r.kind(), r.id());
                    }
                }
                let created = edits
                    .iter()
                    .filter(|e| matches!(e, Edit::Create(_)))
                    .count() as u32;
                report.records_created += created;
                if edits
                    .iter()
                    .any(|e| matches!(e, Edit::Create(Record::Resident(_))))
                {
                    report.rows_created += 1;
                } else {
                    report.rows_updated += 1;
                }
            }
            Err(e) => report.errors.push(RowError {
                line: row.line,
                column: String::new(),
                reason: e.to_string(),
            }),
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lookup finds what a scan of the view in id order finds: the
    /// first of two compounds of the same name by id, even one indexed
    /// later, and not one whose name changed since it was indexed.
    #[test]
    fn the_lookup_matches_as_a_scan_in_id_order_would() {
        let csv = "楼院,楼栋,门牌号,户主姓名,姓名\nX,1,101,王五,王五\n";
        let row = parse(csv.as_bytes()).unwrap().rows.remove(0);
        let compound = |id: &str, name: &str| Compound {
            id: id.into(),
            name: name.into(),
            address: None,
        };
        let mut v = CommunityView::default();
        v.compounds.insert("cp_b".into(), compound("cp_b", "X"));
        let mut lookup = Lookup::new(&v);
        v.compounds.insert("cp_a".into(), compound("cp_a", "X"));
        lookup.update(&v, Kind::Compound, "cp_a");
        let mut n = 0;
        let mut new_id = |k: Kind| {
            n += 1;
            format!("{}_{n}", k.id_prefix())
        };
        let building_of = |edits: &[Edit]| {
            edits.iter().find_map(|e| match e {
                Edit::Create(Record::Building(b)) => Some(b.compound_id.clone()),
                _ => None,
            })
        };
        let edits = plan_row(&v, &lookup, &row, None, &mut new_id);
        let scan = v
            .compounds
            .values()
            .find(|c| c.name == "X")
            .map(|c| c.id.clone());
        assert_eq!(building_of(&edits), scan);
        assert_eq!(scan.as_deref(), Some("cp_a"));
        // Renamed since it was indexed: a candidate the check turns down.
        v.compounds.insert("cp_a".into(), compound("cp_a", "Y"));
        let edits = plan_row(&v, &lookup, &row, None, &mut new_id);
        assert_eq!(building_of(&edits).as_deref(), Some("cp_b"));
    }

    #[test]
    fn chinese_and_english_headers_give_the_same_rows() {
        let zh = "楼院,楼栋,单元,门牌号,户主姓名,联系电话,姓名,身份证号,性别,与户主关系,独居,联包党员\n\
                  桐柏路61号院,1号楼,2,201,张三,13800138000,张三,11010519491231002X,女,本人,否,李四\n";
        let en = "compound,building,unit,door,head_name,household_phone,name,id_number,gender,relation,lives_alone,contract_member\n\
                  桐柏路61号院,1号楼,2,201,张三,13800138000,张三,11010519491231002X,female,本人,no,李四\n";
        let a = parse(zh.as_bytes()).unwrap();
        let b = parse(en.as_bytes()).unwrap();
        assert!(a.errors.is_empty(), "{:?}", a.errors);
        assert_eq!(a.rows, b.rows);
        assert_eq!(a.rows[0].birth_date.unwrap().to_string(), "1949-12-31");
        assert_eq!(a.rows[0].line, 2);
    }

    #[test]
    fn bad_rows_name_line_column_and_reason_and_good_rows_survive() {
        let csv = "楼院,楼栋,门牌号,户主姓名,姓名,身份证号,联系电话\n\
                   A,1,101,王五,王五,11010519491231002X,13800138000\n\
                   A,1,102,赵六,赵六,110105194912310021,13800138000\n\
                   A,1,103,钱七,钱七,,12345\n\
                   A,,104,孙八,孙八,,\n\
                   A,1,105,周九\n";
        let p = parse(csv.as_bytes()).unwrap();
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.rows[0].door, "101");
        let got: Vec<(u64, &str)> = p
            .errors
            .iter()
            .map(|e| (e.line, e.column.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![(3, "身份证号"), (4, "联系电话"), (5, "楼栋"), (6, "")]
        );
        assert!(
            p.errors[0].reason.contains("check digit"),
            "{}",
            p.errors[0].reason
        );
    }

    #[test]
    fn the_same_id_number_twice_is_refused_on_its_second_line() {
        let csv = "楼院,楼栋,门牌号,户主姓名,姓名,身份证号\n\
                   A,1,101,王五,王五,11010519491231002X\n\
                   A,2,201,赵六,赵六,11010519491231002x\n";
        let p = parse(csv.as_bytes()).unwrap();
        assert_eq!(p.rows.len(), 1);
        assert_eq!(
            (p.errors[0].line, p.errors[0].column.as_str()),
            (3, "身份证号")
        );
        assert!(
            p.errors[0].reason.contains("line 2"),
            "{}",
            p.errors[0].reason
        );
    }

    #[test]
    fn a_gbk_file_from_excel_reads_like_its_utf8_twin() {
        let utf8 = "楼院,楼栋,门牌号,户主姓名,姓名,性别\n桐柏路61号院,1号楼,101,张三,张三,男\n";
        let (gbk, _, unmappable) = encoding_rs::GBK.encode(utf8);
        assert!(!unmappable);
        assert!(
            std::str::from_utf8(&gbk).is_err(),
            "the test file must not be UTF-8"
        );
        let a = parse(utf8.as_bytes()).unwrap();
        let b = parse(&gbk).unwrap();
        assert_eq!(a.rows, b.rows);
        assert_eq!((a.encoding, b.encoding), ("UTF-8", "GB18030/GBK"));
        assert_eq!(b.rows[0].compound, "桐柏路61号院");
    }

    #[test]
    fn file_level_problems_are_errors() {
        assert!(
            parse(b"\xff\xfe\x00\x80")
                .unwrap_err()
                .reason
                .contains("UTF-8")
        );
        assert!(
            parse("楼院,楼栋\n".as_bytes())
                .unwrap_err()
                .reason
                .contains("missing required")
        );
        assert!(
            parse("楼院,楼栋,门牌号,户主姓名,姓名,shoe size\n".as_bytes())
                .unwrap_err()
                .reason
                .contains("shoe size")
        );
        assert!(
            parse("楼院,楼院,楼栋,门牌号,户主姓名,姓名\n".as_bytes())
                .unwrap_err()
                .reason
                .contains("twice")
        );
    }
}
