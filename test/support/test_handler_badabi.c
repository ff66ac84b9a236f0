/* A library built against a future ABI: loading must refuse it. */
#include <edgefn/handler.h>

__attribute__((visibility("default"))) const uint32_t edgefn_abi_version = 99;

__attribute__((visibility("default"))) int handle(const edgefn_call *call, const edgefn_event *event) {
  (void)event;
  return edgefn_set_body(call, "x", 1);
}
