/* The uprobe test's target: calls lbt_uprobe_target() once per line read on stdin. */
#include <stdio.h>

__attribute__((noinline, used)) int lbt_uprobe_target(int x)
{
	__asm__ volatile("" ::: "memory");
	return x + 1;
}

int main(void)
{
	char line[64];
	int n = 0;
	while (fgets(line, sizeof(line), stdin))
		n = lbt_uprobe_target(n);
	printf("%d\n", n);
	return 0;
}
