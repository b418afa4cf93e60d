// Row-per-workgroup helpers: the grid is any 2D grid of workgroups, and each workgroup takes rows
// group, group + groups, ... so any number of rows fits within the device's workgroup-count
// limits. The loop bound is uniform across the workgroup, so barriers inside are allowed.
#ifndef LSVK_ROWS_GLSL
#define LSVK_ROWS_GLSL

uint lsvk_group_index() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }
uint lsvk_group_count() { return gl_NumWorkGroups.x * gl_NumWorkGroups.y; }

#endif
