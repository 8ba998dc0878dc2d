use super::*;

#[test]
fn error_text_says_a_repeated_cause_once() {
    let inner = std::io::Error::other("database or disk is full");
    let err = anyhow::Error::new(inner)
        .context("database or disk is full")
        .context("cannot drop from the catalog");
    assert_eq!(
        error_text(&err),
        "cannot drop from the catalog: database or disk is full"
    );
}

#[test]
fn error_text_drops_raw_codes() {
    let cases = [
        ("a: Permission denied (os error 13)", "a: Permission denied"),
        ("a: Error code 21: Bad parameter", "a: Bad parameter"),
        ("a (os error x)", "a (os error x)"),
        ("plain", "plain"),
        ("a: disk I/O error: disk I/O error", "a: disk I/O error"),
    ];
    for (given, want) in cases {
        assert_eq!(error_text(&anyhow::anyhow!(given.to_string())), want);
    }
}

#[test]
fn renders_each_format() {
    let mut t = Table::new(&["path", "size"]);
    t.push(vec!["a,b".into(), Cell::Bytes(2048)]);
    t.push(vec!["c".into(), Cell::Bytes(5)]);
    assert_eq!(
        t.render(Format::Table, false),
        "path     size\na,b   2.0 KiB\nc         5 B\n"
    );
    assert_eq!(
        t.render(Format::Table, true),
        "path  size\na,b   2048\nc        5\n"
    );
    assert_eq!(
        t.render(Format::Csv, false),
        "path,size\n\"a,b\",2048\nc,5\n"
    );
    let json: serde_json::Value = serde_json::from_str(&t.render(Format::Json, false)).unwrap();
    assert_eq!(json[0]["size"], 2048);
    assert_eq!(json[1]["path"], "c");
}

#[test]
fn row_writer_streams_the_same_results() {
    let stream = |format: Format, rows: &[Vec<Cell>]| {
        let mut buf = Vec::new();
        let mut w = RowWriter::start(format, vec!["path".into(), "size".into()], &mut buf).unwrap();
        for r in rows {
            w.row(r.clone()).unwrap();
        }
        w.finish().unwrap();
        String::from_utf8(buf).unwrap()
    };
    let rows = vec![
        vec!["a,b".into(), Cell::Int(2048)],
        vec!["c".into(), Cell::Null],
    ];
    assert_eq!(stream(Format::Csv, &rows), "path,size\n\"a,b\",2048\nc,\n");
    assert_eq!(stream(Format::Table, &rows), "path  size\na,b   2048\nc\n");
    let json: Value = serde_json::from_str(&stream(Format::Json, &rows)).unwrap();
    assert_eq!(json[0]["size"], 2048);
    assert_eq!(json[1]["size"], Value::Null);
    let empty: Value = serde_json::from_str(&stream(Format::Json, &[])).unwrap();
    assert_eq!(empty, Value::Array(vec![]));
}
