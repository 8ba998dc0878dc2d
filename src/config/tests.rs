use super::*;

#[test]
fn example_ini_equals_defaults() {
    let (config, _) = ini::parse(EXAMPLE_INI, Path::new("phlb.example.ini")).unwrap();
    assert_eq!(config, Config::default());
}
