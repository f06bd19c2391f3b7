/* A runtime not written in Rust asking Cerro Torre whether a container may
 * start (integration/tests/c_abi.rs builds and runs it):
 *   decide COMPONENT CONTAINER|- IMAGE_DIGEST [BUNDLE]
 * prints what the decision says and exits with its exit code, as a
 * runtime would refuse the start with it. */
#include <stdio.h>
#include <string.h>

#include "cerro_enforce.h"

static const char *or_none(const char *s) { return s ? s : "(none)"; }

int main(int argc, char **argv) {
  if (argc < 4 || argc > 5) {
    fprintf(stderr, "usage: decide COMPONENT CONTAINER|- IMAGE_DIGEST [BUNDLE]\n");
    return 64;
  }
  const char *container = strcmp(argv[2], "-") == 0 ? NULL : argv[2];
  CerroDecision *d = cerro_decide(argv[1], container, argv[3], argc == 5 ? argv[4] : NULL);
  bool allowed = cerro_decision_allowed(d);
  uint8_t code = cerro_decision_exit_code(d);
  printf("version %s\n", cerro_version());
  printf("allowed %d\n", allowed ? 1 : 0);
  printf("exit %u\n", (unsigned)code);
  printf("check %s\n", or_none(cerro_decision_check(d)));
  printf("reason %s\n", or_none(cerro_decision_reason(d)));
  printf("process_label %s\n", or_none(cerro_decision_process_label(d)));
  cerro_decision_free(d);
  /* A runtime starts the container only when allowed. */
  return allowed ? 0 : (code ? code : 1);
}
