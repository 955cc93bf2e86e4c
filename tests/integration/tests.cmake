#  Integration tests: real zvhd daemons over CURVE on loopback, driven with
#  zvhctl from Python 3 (standard library; some tests also need Debian's
#  python3-protobuf, python3-nacl or python3-zmq and say so). All run with
#  zvhtest.py's runner. Each file is one CTest entry;
#  zvh_integration_test (tests/CMakeLists.txt) sets ZVH_BUILD_DIR and
#  ZVH_SOURCE_DIR and a 1800 s timeout, a hang guard: a wait in a test gives
#  up after minutes (zvhtest.PATIENCE_S) and says what it waited for; a
#  suite interrupted by the timeout says where. They need zvhd and zvhctl built.
#  Run one by hand: python3 tests/integration/test_faults.py [name-filter]
#  (ZVH_SEED=N repeats a fault run; ZVH_FAULT_ITERATIONS=N lengthens it).
zvh_integration_test (test_handover)
zvh_integration_test (test_faults)
zvh_integration_test (test_security)
zvh_integration_test (test_signals)
zvh_integration_test (test_python_subscriber)
zvh_integration_test (test_permissions)
set_tests_properties (test_handover test_faults test_security test_signals
    test_python_subscriber test_permissions PROPERTIES LABELS "integration")
#  The kill -9 loop measures nothing by wall clock, but it is the longest and
#  busiest test: keep other tests' daemons off the cores while it runs.
set_tests_properties (test_faults PROPERTIES RUN_SERIAL TRUE)
#  Operations: the compose configs on loopback, metrics, health, backup and
#  restore, sd_notify readiness.
zvh_integration_test (test_operations)
set_tests_properties (test_operations PROPERTIES LABELS "integration")
zvh_integration_test (test_cli)
set_tests_properties (test_cli PROPERTIES LABELS "integration")
#  The status page in headless Chromium (Debian's chromium, which
#  scripts/install-deps.sh installs; the test fails without it): five
#  regions, one stopped
zvh_integration_test (test_status_browser)
set_tests_properties (test_status_browser PROPERTIES LABELS "integration")
#  CAP 1.2 alerts of every kind of view (zvhctl subscribe --format cap),
#  each validated with xmllint (Debian's libxml2-utils, which
#  scripts/install-deps.sh installs; the test fails without it) against
#  tests/schemas/CAP-v1.2.xsd
zvh_integration_test (test_cap)
set_tests_properties (test_cap PROPERTIES LABELS "integration")
#  FHIR R4 output (case show --fhir, audit export --fhir) validated against
#  the official R4 JSON schema (tests/schemas/fhir.r4.schema.json) with
#  Debian's python3-jsonschema; fails without it
zvh_integration_test (test_fhir)
set_tests_properties (test_fhir PROPERTIES LABELS "integration")
#  zvhctl forward (CAP over HTTPS, docs/PARTNERS.md (c)): SIGKILL of the
#  forwarder and of a test HTTPS receiver (cap_receiver.py, python3 + ssl,
#  a certificate from openssl) mid-stream, and 503s; every view arrives in
#  order, valid CAP (xmllint, as test_cap), none acknowledged before its POST
zvh_integration_test (test_forward)
set_tests_properties (test_forward PROPERTIES LABELS "integration")
