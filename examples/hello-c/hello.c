/* The smallest native handler: answers every request with a fixed body.
 * Build: cc -shared -fPIC -I include -o libhello-c.so hello.c (CMake does
 * this for you, see examples/CMakeLists.txt). */
#include <edgefn/handler.h>

EDGEFN_DECLARE_ABI();

__attribute__((visibility("default"))) int hello_handle(const edgefn_call *call, const edgefn_event *event) {
  static const char body[] = "hello, edge\n";
  (void)event;
  return edgefn_set_body(call, body, sizeof body - 1);
}
