/* An application's own VkInstance / VkDevice / queue imported into lsvk: lsvk runs on them and
 * leaves them alive when its context is destroyed. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <volk.h>

int main(void) {
    if (volkInitialize() != VK_SUCCESS) {
        TU_CHECK(0, "no Vulkan loader");
        return tu_finish(NULL);
    }
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .apiVersion = VK_API_VERSION_1_1};
    VkInstanceCreateInfo ici = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app};
    VkInstance inst;
    if (!TU_CHECK(vkCreateInstance(&ici, NULL, &inst) == VK_SUCCESS, "vkCreateInstance")) return tu_finish(NULL);
    volkLoadInstanceOnly(inst);
    uint32_t n = 1;
    VkPhysicalDevice pd;
    VkResult r = vkEnumeratePhysicalDevices(inst, &n, &pd);
    TU_CHECK((r == VK_SUCCESS || r == VK_INCOMPLETE) && n == 1, "a device");
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, NULL);
    VkQueueFamilyProperties qp[16];
    nq = nq > 16 ? 16 : nq;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, qp);
    uint32_t fam = 0;
    while (fam < nq && !(qp[fam].queueFlags & VK_QUEUE_COMPUTE_BIT)) fam++;
    float prio = 1;
    VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                   .queueFamilyIndex = fam, .queueCount = 1, .pQueuePriorities = &prio};
    VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                              .queueCreateInfoCount = 1, .pQueueCreateInfos = &qci};
    VkDevice dev;
    TU_CHECK(vkCreateDevice(pd, &dci, NULL, &dev) == VK_SUCCESS, "vkCreateDevice");
    struct VolkDeviceTable vk;
    volkLoadDeviceTable(&vk, dev);
    VkQueue queue;
    vk.vkGetDeviceQueue(dev, fam, 0, &queue);

    lsvk_vulkan_import im = {.instance = inst, .physical_device = pd, .device = dev, .queue = queue,
                             .queue_family = fam, .get_instance_proc_addr = (void *)vkGetInstanceProcAddr};
    lsvk_context_create_info ci = {.import = &im};
    lsvk_context *ctx = NULL;
    if (TU_OK(lsvk_context_create(&ci, &ctx))) {
        int64_t len = 3;
        float v[3] = {-1, 0, 1}, o[3];
        lsvk_tensor *t = tu_tensor(ctx, 1, &len, v);
        TU_OK(lsvk_gelu(NULL, t, t));
        TU_OK(lsvk_tensor_download(t, o, sizeof o));
        TU_CHECK(fabsf(o[2] - 0.8413447f) < 1e-5f && fabsf(o[0] + 0.1586553f) < 1e-5f, "gelu %g %g", o[0], o[2]);
        lsvk_tensor_destroy(t);
        lsvk_context_destroy(ctx);
    }
    /* still the application's: usable after lsvk is gone */
    TU_CHECK(vk.vkDeviceWaitIdle(dev) == VK_SUCCESS, "device alive after context destroy");

    lsvk_vulkan_import bad = im;
    bad.queue_family = 999;
    ci.import = &bad;
    TU_STATUS(lsvk_context_create(&ci, &ctx), LSVK_ERROR_INVALID_ARGUMENT);
    bad = im;
    bad.device = NULL;
    TU_STATUS(lsvk_context_create(&ci, &ctx), LSVK_ERROR_INVALID_ARGUMENT);

    vk.vkDestroyDevice(dev, NULL);
    vkDestroyInstance(inst, NULL);
    return tu_finish(NULL);
}
