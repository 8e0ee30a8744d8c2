#include <criterion/criterion.h>
#include "agrad.h"
