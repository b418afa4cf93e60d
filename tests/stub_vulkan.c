/* A libvulkan.so.1 that exports no Vulkan entry point: stands in for a machine without a loader. */
int lsvk_stub_vulkan_marker(void);
int lsvk_stub_vulkan_marker(void) { return 0; }
